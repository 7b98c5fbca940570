//! Strict parsing of request fields into domain types, and formatting back.
//!
//! Each parser takes the field's path in the request (for example
//! `principal.amount`) and returns a [`FieldViolation`] naming that path, so
//! a handler can collect every problem with [`crate::Violations`]. No parser
//! panics, whatever the input. Messages quote at most the first
//! [`MAX_QUOTED_CHARS`] characters of a rejected value.

use std::sync::LazyLock;

use bank_proto::common::{Money, SignedEnvelope, VerificationKey};
use chrono::{DateTime, NaiveDate, Utc};
use prost_types::Timestamp;
use rust_decimal::{Decimal, RoundingStrategy};
use uuid::Uuid;

use crate::error::FieldViolation;

/// Maximum number of characters of a rejected value quoted in a violation.
pub const MAX_QUOTED_CHARS: usize = 40;

/// Maximum number of digits before the decimal point of a money amount.
///
/// 15 digits keep every amount, and the sum or product of two of them, far
/// inside the 28 significant digits of [`Decimal`], and are more than any
/// deposit needs.
pub const MAX_INTEGER_DIGITS: usize = 15;

/// Maximum length of an identifier accepted by [`require_identifier`].
pub const MAX_IDENTIFIER_CHARS: usize = 64;

/// Minimum and maximum length of a masked ID number.
pub const MASKED_ID_NUMBER_CHARS: std::ops::RangeInclusive<usize> = 4..=32;

/// Maximum number of unmasked characters in a masked ID number.
///
/// NOTE: chosen to accept the usual masking of an 18-character PRC ID number
/// (first 6 and last 4 characters shown) while rejecting a number with only
/// one or two characters masked. No regulation was checked for this value.
pub const MAX_UNMASKED_ID_CHARS: usize = 10;

/// Supported ISO 4217 currencies with their minor-unit digits, sorted by code.
const CURRENCIES: &[(&str, u32)] = &[("CNY", 2), ("EUR", 2), ("HKD", 2), ("JPY", 0), ("USD", 2)];

/// Seconds of 0001-01-01T00:00:00Z, the earliest valid protobuf Timestamp.
const MIN_TIMESTAMP_SECONDS: i64 = -62_135_596_800;

/// Seconds of 9999-12-31T23:59:59Z, the latest valid protobuf Timestamp.
const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;

/// Largest valid `Timestamp.nanos`.
const MAX_NANOS: i32 = 999_999_999;

/// Returns the number of minor-unit digits of a supported currency, or
/// `None` for any other code (lower case included).
pub fn minor_unit_digits(currency_code: &str) -> Option<u32> {
    CURRENCIES
        .iter()
        .find(|(code, _)| *code == currency_code)
        .map(|(_, digits)| *digits)
}

/// Checks an ISO 4217 code against the supported currencies and returns it.
pub fn parse_currency_code(field: &str, code: &str) -> Result<&'static str, FieldViolation> {
    if code.is_empty() {
        return Err(FieldViolation::new(field, "is required"));
    }
    if let Some((known, _)) = CURRENCIES.iter().find(|(known, _)| *known == code) {
        return Ok(known);
    }

    static SUPPORTED: LazyLock<String> = LazyLock::new(|| {
        let codes: Vec<&str> = CURRENCIES.iter().map(|(code, _)| *code).collect();
        codes.join(", ")
    });
    let is_letters = code.len() == 3 && code.bytes().all(|byte| byte.is_ascii_alphabetic());
    if is_letters && !code.bytes().all(|byte| byte.is_ascii_uppercase()) {
        return Err(FieldViolation::new(
            field,
            format!(
                "must be an upper-case ISO 4217 code such as \"CNY\", got {}",
                quote(code)
            ),
        ));
    }
    Err(FieldViolation::new(
        field,
        format!(
            "unsupported currency {}: supported codes are {}",
            quote(code),
            *SUPPORTED
        ),
    ))
}

/// Parses a required [`Money`] field into its amount and currency code.
///
/// The amount must be an optional "-", one or more ASCII digits without
/// leading zeros, and optionally "." followed by one to as many digits as the
/// currency's minor unit has. Rejected: a missing message, an empty amount,
/// "+", spaces, exponents ("1e5"), grouping separators ("1,000.00"), ".5",
/// "5.", full-width digits, "NaN", more than [`MAX_INTEGER_DIGITS`] integer
/// digits, and unsupported or lower-case currency codes. Negative amounts are
/// accepted, so callers check the sign, or use [`parse_positive_money`].
/// "-0" and "-0.00" are accepted as zero.
///
/// The returned amount keeps the scale of the text ("50" has scale 0), and
/// the violation names `field.amount` or `field.currency_code`.
pub fn parse_money(field: &str, money: Option<&Money>) -> Result<(Decimal, String), FieldViolation> {
    let Some(money) = money else {
        return Err(FieldViolation::new(field, "is required"));
    };

    let currency_field = format!("{field}.currency_code");
    let currency = parse_currency_code(&currency_field, &money.currency_code)?;
    let digits = minor_unit_digits(currency).unwrap_or(0);

    let amount_field = format!("{field}.amount");
    let amount = parse_amount(&amount_field, &money.amount, currency, digits)?;
    Ok((amount, currency.to_string()))
}

/// Parses a required [`Money`] field like [`parse_money`] and also rejects
/// zero and negative amounts.
pub fn parse_positive_money(field: &str, money: Option<&Money>) -> Result<(Decimal, String), FieldViolation> {
    let (amount, currency) = parse_money(field, money)?;
    if amount <= Decimal::ZERO {
        return Err(FieldViolation::new(
            format!("{field}.amount"),
            format!("must be greater than zero, got {}", quote(&money_text(money))),
        ));
    }
    Ok((amount, currency))
}

/// Formats an amount as [`Money`] with exactly the currency's number of
/// decimal places ("50" becomes "50.00" for CNY).
///
/// Extra places are rounded half away from zero (四舍五入), and a zero is
/// never written with a minus sign. For a currency outside the supported
/// table the amount is written as it is.
pub fn money(amount: Decimal, currency_code: &str) -> Money {
    let mut amount = amount;
    if let Some(digits) = minor_unit_digits(currency_code) {
        amount = amount.round_dp_with_strategy(digits, RoundingStrategy::MidpointAwayFromZero);
        amount.rescale(digits);
    }
    if amount.is_zero() {
        amount.set_sign_positive(true);
    }
    Money {
        amount: amount.to_string(),
        currency_code: currency_code.to_string(),
    }
}

/// Parses a required date in the form "YYYY-MM-DD" (exactly 10 characters,
/// no time, no sign, year 0001 or later).
pub fn parse_date(field: &str, text: &str) -> Result<NaiveDate, FieldViolation> {
    if text.is_empty() {
        return Err(FieldViolation::new(field, "is required"));
    }

    let bytes = text.as_bytes();
    let well_formed = bytes.len() == 10
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            _ => byte.is_ascii_digit(),
        });
    if !well_formed {
        return Err(FieldViolation::new(
            field,
            format!("must be a date in the form YYYY-MM-DD, got {}", quote(text)),
        ));
    }

    // The checks above leave only ASCII digits in these ranges.
    let year: i32 = text[0..4].parse().unwrap_or(0);
    let month: u32 = text[5..7].parse().unwrap_or(0);
    let day: u32 = text[8..10].parse().unwrap_or(0);
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(date) if year >= 1 => Ok(date),
        _ => Err(FieldViolation::new(
            field,
            format!("is not a calendar date: {}", quote(text)),
        )),
    }
}

/// Formats a date as "YYYY-MM-DD".
pub fn format_date(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// Converts an instant to a protobuf [`Timestamp`].
///
/// A leap second, which chrono stores as nanoseconds of 1_000_000_000 or
/// more, is written as the last nanosecond of the second before.
pub fn to_timestamp(instant: DateTime<Utc>) -> Timestamp {
    let nanos = instant.timestamp_subsec_nanos().min(MAX_NANOS as u32);
    Timestamp {
        seconds: instant.timestamp(),
        nanos: i32::try_from(nanos).unwrap_or(MAX_NANOS),
    }
}

/// Parses a required protobuf [`Timestamp`].
///
/// Rejects a missing value, nanos outside 0..=999_999_999 and instants
/// outside 0001-01-01T00:00:00Z..=9999-12-31T23:59:59.999999999Z, the range
/// that `google/protobuf/timestamp.proto` allows.
pub fn parse_timestamp(field: &str, timestamp: Option<&Timestamp>) -> Result<DateTime<Utc>, FieldViolation> {
    let Some(timestamp) = timestamp else {
        return Err(FieldViolation::new(field, "is required"));
    };

    if !(0..=MAX_NANOS).contains(&timestamp.nanos) {
        return Err(FieldViolation::new(
            format!("{field}.nanos"),
            format!("must be from 0 to {MAX_NANOS}, got {}", timestamp.nanos),
        ));
    }
    if !(MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&timestamp.seconds) {
        return Err(FieldViolation::new(
            format!("{field}.seconds"),
            format!(
                "must be from {MIN_TIMESTAMP_SECONDS} (0001-01-01T00:00:00Z) to {MAX_TIMESTAMP_SECONDS} (9999-12-31T23:59:59Z), got {}",
                timestamp.seconds
            ),
        ));
    }

    // After the range checks above both values are inside chrono's range,
    // which reaches past year 262,000 in both directions, so this error is
    // not expected.
    let nanos = u32::try_from(timestamp.nanos).unwrap_or(0);
    DateTime::from_timestamp(timestamp.seconds, nanos)
        .ok_or_else(|| FieldViolation::new(field, format!("is out of range: {} seconds", timestamp.seconds)))
}

/// Parses a required request id: a UUID in the hyphenated form
/// "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" in lower case, the form RFC 9562
/// recommends for output. The nil UUID is rejected, because clients that
/// forget to set an id send it.
pub fn parse_request_id(field: &str, text: &str) -> Result<Uuid, FieldViolation> {
    if text.is_empty() {
        return Err(FieldViolation::new(field, "is required"));
    }

    // Uuid::try_parse also accepts the simple, braced and URN forms, which
    // the length check excludes: only the hyphenated form has 36 characters.
    let parsed = if text.len() == 36 {
        Uuid::try_parse(text).ok()
    } else {
        None
    };
    match parsed {
        // The request id is also an idempotency key compared as text, so an
        // upper-case spelling of a used id must not become a second key.
        Some(_) if text.bytes().any(|byte| byte.is_ascii_uppercase()) => Err(FieldViolation::new(
            field,
            format!("must be a lower-case UUID, got {}", quote(text)),
        )),
        Some(uuid) if uuid.is_nil() => Err(FieldViolation::new(
            field,
            "must not be the nil UUID 00000000-0000-0000-0000-000000000000. Generate a random (version 4) UUID for each new request",
        )),
        Some(uuid) => Ok(uuid),
        None => Err(FieldViolation::new(
            field,
            format!(
                "must be a UUID in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, got {}",
                quote(text)
            ),
        )),
    }
}

/// True for Unicode format characters that change how text displays without
/// showing themselves: zero-width characters, bidirectional controls and the
/// byte order mark (Unicode general category Cf, the ones a name could use to
/// pass for another name on a supervisor's screen).
fn is_invisible_format(character: char) -> bool {
    matches!(
        character,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// Checks a required free-text field and returns it without leading and
/// trailing whitespace.
///
/// Rejects text that is empty after trimming, that contains a control
/// character (line breaks and tabs included) or an invisible formatting
/// character (see `is_invisible_format`), or that is longer than `max_chars`
/// characters before trimming.
pub fn require_text<'a>(field: &str, text: &'a str, max_chars: usize) -> Result<&'a str, FieldViolation> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(FieldViolation::new(field, "is required"));
    }

    let length = text.chars().count();
    if length > max_chars {
        return Err(FieldViolation::new(
            field,
            format!("must be at most {max_chars} characters, got {length}"),
        ));
    }

    if let Some(control) = text.chars().find(|character| character.is_control()) {
        return Err(FieldViolation::new(
            field,
            format!(
                "must not contain control characters, found U+{:04X}",
                u32::from(control)
            ),
        ));
    }

    if let Some(invisible) = text.chars().find(|character| is_invisible_format(*character)) {
        return Err(FieldViolation::new(
            field,
            format!(
                "must not contain invisible or text-direction characters, found U+{:04X}",
                u32::from(invisible)
            ),
        ));
    }

    Ok(trimmed)
}

/// Checks a required identifier: 1 to [`MAX_IDENTIFIER_CHARS`] characters,
/// each an ASCII letter, digit, ".", "_" or "-".
pub fn require_identifier<'a>(field: &str, text: &'a str) -> Result<&'a str, FieldViolation> {
    if text.is_empty() {
        return Err(FieldViolation::new(field, "is required"));
    }

    let allowed = |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-');
    if text.len() > MAX_IDENTIFIER_CHARS || !text.bytes().all(allowed) {
        return Err(FieldViolation::new(
            field,
            format!(
                "must be 1 to {MAX_IDENTIFIER_CHARS} characters of A-Z, a-z, 0-9, \".\", \"_\" and \"-\", got {}",
                quote(text)
            ),
        ));
    }
    Ok(text)
}

/// Checks a masked ID number such as "110***********1234".
///
/// It must have 4 to 32 characters, each an ASCII letter, digit or "*", with
/// at least one "*" and at most [`MAX_UNMASKED_ID_CHARS`] other characters.
/// The purpose is that a full ID number is never accepted or stored, so the
/// violation never quotes the value.
pub fn require_masked_id_number<'a>(field: &str, text: &'a str) -> Result<&'a str, FieldViolation> {
    if text.is_empty() {
        return Err(FieldViolation::new(field, "is required"));
    }

    let allowed = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'*';
    let well_formed = MASKED_ID_NUMBER_CHARS.contains(&text.len()) && text.bytes().all(allowed);
    if !well_formed {
        return Err(FieldViolation::new(
            field,
            format!(
                "must be {} to {} characters of letters, digits and \"*\"",
                MASKED_ID_NUMBER_CHARS.start(),
                MASKED_ID_NUMBER_CHARS.end()
            ),
        ));
    }

    let unmasked = text.bytes().filter(|byte| *byte != b'*').count();
    if unmasked == text.len() || unmasked > MAX_UNMASKED_ID_CHARS {
        return Err(FieldViolation::new(
            field,
            format!(
                "must be masked with \"*\", showing at most {MAX_UNMASKED_ID_CHARS} characters: full ID numbers are never accepted"
            ),
        ));
    }
    Ok(text)
}

/// Copies a protobuf [`SignedEnvelope`] into an [`attestation::Envelope`],
/// keeping the payload bytes exactly as received.
pub fn envelope_from_proto(envelope: &SignedEnvelope) -> attestation::Envelope {
    attestation::Envelope {
        payload_type: envelope.payload_type.clone(),
        payload: envelope.payload.clone(),
        key_id: envelope.key_id.clone(),
        signature: envelope.signature.clone(),
    }
}

/// Copies an [`attestation::Envelope`] into a protobuf [`SignedEnvelope`].
pub fn envelope_to_proto(envelope: &attestation::Envelope) -> SignedEnvelope {
    SignedEnvelope {
        payload_type: envelope.payload_type.clone(),
        payload: envelope.payload.clone(),
        key_id: envelope.key_id.clone(),
        signature: envelope.signature.clone(),
    }
}

/// A verifying key read from a [`VerificationKey`] message, with its
/// validity period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedKey {
    /// The public key.
    pub key: attestation::VerifyingKey,
    /// First instant at which signatures by the key are accepted.
    pub valid_from: DateTime<Utc>,
    /// Instant from which signatures by the key are no longer accepted, or
    /// `None` for no planned end.
    pub valid_until: Option<DateTime<Utc>>,
    /// Whether the key signs new envelopes.
    pub active: bool,
}

/// Builds a [`VerificationKey`] message with the raw key bytes, the PEM form
/// and the derived key id.
///
/// Fails only if PEM encoding fails, which does not happen for a valid key.
pub fn verification_key_to_proto(
    key: &attestation::VerifyingKey,
    valid_from: DateTime<Utc>,
    valid_until: Option<DateTime<Utc>>,
    active: bool,
) -> Result<VerificationKey, attestation::KeyError> {
    Ok(VerificationKey {
        key_id: key.key_id(),
        public_key: key.to_bytes().to_vec(),
        public_key_pem: key.to_public_key_pem()?,
        valid_from: Some(to_timestamp(valid_from)),
        valid_until: valid_until.map(to_timestamp),
        active,
    })
}

/// Reads a [`VerificationKey`] message.
///
/// The raw bytes, the PEM form or both must be given, and when both are given
/// they must be the same key. The key id must be the one derived from the
/// key, `valid_from` is required, and `valid_until`, when set, must be after
/// `valid_from`. Violations name `field.public_key`, `field.key_id` and so on.
pub fn verification_key_from_proto(
    field: &str,
    message: &VerificationKey,
) -> Result<PublishedKey, FieldViolation> {
    let from_bytes = if message.public_key.is_empty() {
        None
    } else {
        let key = attestation::VerifyingKey::from_bytes(&message.public_key)
            .map_err(|error| FieldViolation::new(format!("{field}.public_key"), error.to_string()))?;
        Some(key)
    };
    let from_pem = if message.public_key_pem.is_empty() {
        None
    } else {
        let key = attestation::VerifyingKey::from_public_key_pem(&message.public_key_pem)
            .map_err(|error| FieldViolation::new(format!("{field}.public_key_pem"), error.to_string()))?;
        Some(key)
    };

    let key = match (from_bytes, from_pem) {
        (Some(raw), Some(pem)) if raw != pem => {
            return Err(FieldViolation::new(
                format!("{field}.public_key_pem"),
                format!(
                    "is key {}, but public_key is key {}: both must be the same key",
                    pem.key_id(),
                    raw.key_id()
                ),
            ));
        }
        (Some(key), _) | (None, Some(key)) => key,
        (None, None) => {
            return Err(FieldViolation::new(
                format!("{field}.public_key"),
                "is required: set public_key (32 raw bytes) or public_key_pem",
            ));
        }
    };

    let key_id = key.key_id();
    if message.key_id != key_id {
        return Err(FieldViolation::new(
            format!("{field}.key_id"),
            format!(
                "must be {key_id}, the id derived from the public key, got {}",
                quote(&message.key_id)
            ),
        ));
    }

    let valid_from = parse_timestamp(&format!("{field}.valid_from"), message.valid_from.as_ref())?;
    let valid_until = match &message.valid_until {
        Some(timestamp) => {
            let valid_until_field = format!("{field}.valid_until");
            let valid_until = parse_timestamp(&valid_until_field, Some(timestamp))?;
            if valid_until <= valid_from {
                return Err(FieldViolation::new(
                    valid_until_field,
                    format!("must be after valid_from {valid_from}, got {valid_until}"),
                ));
            }
            Some(valid_until)
        }
        None => None,
    };

    Ok(PublishedKey {
        key,
        valid_from,
        valid_until,
        active: message.active,
    })
}

/// Parses the amount text of a money field whose currency has `digits`
/// minor-unit digits.
fn parse_amount(field: &str, text: &str, currency: &str, digits: u32) -> Result<Decimal, FieldViolation> {
    if text.is_empty() {
        return Err(FieldViolation::new(field, "is required"));
    }

    let malformed = || {
        FieldViolation::new(
            field,
            format!(
                "must be a plain decimal such as \"80000.00\": an optional \"-\", ASCII digits and optionally \".\" with decimals, without \"+\", spaces, exponent or grouping separators; got {}",
                quote(text)
            ),
        )
    };

    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (integer, fraction) = match unsigned.split_once('.') {
        Some((integer, fraction)) => (integer, fraction),
        None => (unsigned, ""),
    };
    let has_point = unsigned.contains('.');

    let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if integer.is_empty() || !all_digits(integer) || !all_digits(fraction) {
        return Err(malformed());
    }
    if has_point && fraction.is_empty() {
        return Err(FieldViolation::new(
            field,
            format!(
                "must not end with \".\": write \"5\" or \"5.00\", got {}",
                quote(text)
            ),
        ));
    }
    if integer.len() > 1 && integer.starts_with('0') {
        return Err(FieldViolation::new(
            field,
            format!("must not have leading zeros, got {}", quote(text)),
        ));
    }
    if integer.len() > MAX_INTEGER_DIGITS {
        return Err(FieldViolation::new(
            field,
            format!(
                "must have at most {MAX_INTEGER_DIGITS} digits before the decimal point, got {}",
                integer.len()
            ),
        ));
    }
    if fraction.len() > digits as usize {
        return Err(FieldViolation::new(
            field,
            format!(
                "has {} decimal places, but {currency} allows at most {digits}: {}",
                fraction.len(),
                quote(text)
            ),
        ));
    }

    // At most 15 + 2 ASCII digits remain, which always fit in an i128.
    let mantissa: i128 = format!("{integer}{fraction}").parse().map_err(|_| malformed())?;
    let scale = u32::try_from(fraction.len()).map_err(|_| malformed())?;
    let mut amount = Decimal::try_from_i128_with_scale(mantissa, scale).map_err(|_| malformed())?;
    if negative && !amount.is_zero() {
        amount.set_sign_negative(true);
    }
    Ok(amount)
}

/// Returns the amount and currency of an optional money field for a message.
fn money_text(money: Option<&Money>) -> String {
    match money {
        Some(money) => format!("{} {}", money.amount, money.currency_code),
        None => String::new(),
    }
}

/// Quotes at most [`MAX_QUOTED_CHARS`] characters of an untrusted value, with
/// control characters escaped and "..." after a cut.
fn quote(value: &str) -> String {
    match value.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((cut, _)) => format!("{:?}...", &value[..cut]),
        None => format!("{value:?}"),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    fn cny(amount: &str) -> Money {
        Money {
            amount: amount.to_string(),
            currency_code: "CNY".to_string(),
        }
    }

    fn decimal(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn minor_unit_digits_table() {
        assert_eq!(minor_unit_digits("CNY"), Some(2));
        assert_eq!(minor_unit_digits("USD"), Some(2));
        assert_eq!(minor_unit_digits("EUR"), Some(2));
        assert_eq!(minor_unit_digits("HKD"), Some(2));
        assert_eq!(minor_unit_digits("JPY"), Some(0));
        assert_eq!(minor_unit_digits("cny"), None);
        assert_eq!(minor_unit_digits("XXX"), None);
        assert_eq!(minor_unit_digits(""), None);
    }

    #[test]
    fn currencies_sorted_and_unique() {
        for pair in CURRENCIES.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
    }

    #[test]
    fn parse_money_accepts_valid_amounts() {
        let cases = [
            ("80000.00", "80000.00"),
            ("184.67", "184.67"),
            ("50", "50"),
            ("0.5", "0.5"),
            ("0", "0"),
            ("0.00", "0.00"),
            ("-12.30", "-12.30"),
            ("999999999999999.99", "999999999999999.99"),
        ];
        for (text, expected) in cases {
            let (amount, currency) = parse_money("principal", Some(&cny(text)))
                .unwrap_or_else(|violation| panic!("{text}: {violation}"));
            assert_eq!(amount, decimal(expected), "{text}");
            assert_eq!(amount.to_string(), expected, "{text} keeps its scale");
            assert_eq!(currency, "CNY");
        }
    }

    #[test]
    fn parse_money_negative_zero_is_zero() {
        for text in ["-0", "-0.00"] {
            let (amount, _) = parse_money("principal", Some(&cny(text))).unwrap();
            assert!(amount.is_zero(), "{text}");
            assert!(amount.is_sign_positive(), "{text} must lose its minus sign");
        }
    }

    #[test]
    fn parse_money_rejects_hostile_amounts() {
        let cases = [
            "",
            "1e5",
            "1E5",
            " 1.00",
            "1.00 ",
            "1 000.00",
            "1,000.00",
            "1_000",
            "+1",
            "1.",
            ".5",
            "-.5",
            "-",
            "--1",
            "1.2.3",
            "1..2",
            "１２",
            "٣",
            "NaN",
            "nan",
            "inf",
            "Infinity",
            "0x10",
            "1.001",
            "1.234",
            "01",
            "007.00",
            "-01",
            "1000000000000000",
            "1000000000000000000000000000000",
            "79228162514264337593543950336",
            "1\u{0}",
            "\u{200b}1",
        ];
        for text in cases {
            let result = parse_money("principal", Some(&cny(text)));
            let violation = result.expect_err(text);
            assert_eq!(violation.field, "principal.amount", "{text:?}");
        }
    }

    #[test]
    fn parse_money_reports_decimal_places() {
        let violation = parse_money("principal", Some(&cny("1.234"))).unwrap_err();

        assert_eq!(violation.field, "principal.amount");
        assert!(
            violation
                .description
                .contains("has 3 decimal places, but CNY allows at most 2"),
            "{}",
            violation.description
        );
    }

    #[test]
    fn parse_money_jpy_has_no_decimals() {
        let yen = |amount: &str| Money {
            amount: amount.to_string(),
            currency_code: "JPY".to_string(),
        };

        assert_eq!(parse_money("fee", Some(&yen("500"))).unwrap().0, decimal("500"));
        assert!(parse_money("fee", Some(&yen("500.0"))).is_err());
        assert!(parse_money("fee", Some(&yen("500."))).is_err());
    }

    #[test]
    fn parse_money_rejects_missing_message() {
        let violation = parse_money("principal", None).unwrap_err();

        assert_eq!(violation, FieldViolation::new("principal", "is required"));
    }

    #[test]
    fn parse_money_rejects_bad_currency() {
        for code in ["", "cny", "Cny", "XXX", "CN", "CNYY", "人民币", " CNY"] {
            let money = Money {
                amount: "1.00".to_string(),
                currency_code: code.to_string(),
            };
            let violation = parse_money("principal", Some(&money)).expect_err(code);
            assert_eq!(violation.field, "principal.currency_code", "{code:?}");
        }
    }

    #[test]
    fn parse_currency_code_messages() {
        let lower = parse_currency_code("currency_code", "cny").unwrap_err();
        assert!(lower.description.contains("upper-case"), "{}", lower.description);

        let unknown = parse_currency_code("currency_code", "GBP").unwrap_err();
        assert!(
            unknown.description.contains("CNY, EUR, HKD, JPY, USD"),
            "{}",
            unknown.description
        );
    }

    #[test]
    fn parse_positive_money_rejects_zero_and_negative() {
        for text in ["0", "0.00", "-0.00", "-1", "-0.01"] {
            let violation = parse_positive_money("amount", Some(&cny(text))).expect_err(text);
            assert_eq!(violation.field, "amount.amount", "{text}");
            assert!(violation.description.contains("greater than zero"), "{text}");
        }
        assert_eq!(
            parse_positive_money("amount", Some(&cny("0.01"))).unwrap().0,
            decimal("0.01")
        );
    }

    #[test]
    fn money_formats_currency_places() {
        assert_eq!(money(decimal("50"), "CNY").amount, "50.00");
        assert_eq!(money(decimal("184.6"), "CNY").amount, "184.60");
        assert_eq!(money(decimal("184.675"), "CNY").amount, "184.68");
        assert_eq!(money(decimal("184.665"), "CNY").amount, "184.67");
        assert_eq!(money(decimal("-184.675"), "CNY").amount, "-184.68");
        assert_eq!(money(decimal("0"), "CNY").amount, "0.00");
        assert_eq!(money(decimal("-0.001"), "CNY").amount, "0.00");
        assert_eq!(money(decimal("1234.5"), "JPY").amount, "1235");
        assert_eq!(money(decimal("1.5"), "XXX").amount, "1.5");
        assert_eq!(money(decimal("50"), "CNY").currency_code, "CNY");
    }

    #[test]
    fn money_round_trips_through_parse() {
        for text in ["0.00", "0.01", "80000.00", "-5.10", "999999999999999.99"] {
            let (amount, currency) = parse_money("m", Some(&cny(text))).unwrap();
            assert_eq!(money(amount, &currency), cny(text));
        }
    }

    #[test]
    fn parse_date_accepts_iso_dates() {
        assert_eq!(
            parse_date("opened_on", "2025-02-28").unwrap(),
            NaiveDate::from_ymd_opt(2025, 2, 28).unwrap()
        );
        assert_eq!(
            parse_date("opened_on", "2024-02-29").unwrap(),
            NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()
        );
        assert_eq!(
            parse_date("opened_on", "0001-01-01").unwrap(),
            NaiveDate::from_ymd_opt(1, 1, 1).unwrap()
        );
    }

    #[test]
    fn parse_date_rejects_hostile_dates() {
        let cases = [
            "",
            "2025-2-1",
            "2025-02-1",
            "2025-02-30",
            "2023-02-29",
            "2025-13-01",
            "2025-00-10",
            "2025-01-00",
            "0000-01-01",
            "+2025-02-01",
            "-2025-02-01",
            "2025-02-01T00:00:00Z",
            "2025-02-01 ",
            " 2025-02-01",
            "2025/02/01",
            "20250201",
            "２０２５-02-01",
            "2025-0２-01",
            "yyyy-mm-dd",
        ];
        for text in cases {
            let violation = parse_date("opened_on", text).expect_err(text);
            assert_eq!(violation.field, "opened_on", "{text:?}");
        }
    }

    #[test]
    fn format_date_pads() {
        let date = NaiveDate::from_ymd_opt(987, 3, 4).unwrap();

        assert_eq!(format_date(date), "0987-03-04");
        assert_eq!(parse_date("d", &format_date(date)).unwrap(), date);
    }

    #[test]
    fn timestamp_round_trip() {
        let instant =
            Utc.with_ymd_and_hms(2025, 6, 30, 8, 15, 0).unwrap() + chrono::Duration::nanoseconds(123_456_789);

        let timestamp = to_timestamp(instant);

        assert_eq!(timestamp.nanos, 123_456_789);
        assert_eq!(parse_timestamp("at", Some(&timestamp)).unwrap(), instant);
    }

    #[test]
    fn timestamp_before_epoch() {
        let instant =
            Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 59).unwrap() + chrono::Duration::milliseconds(500);

        let timestamp = to_timestamp(instant);

        assert_eq!(timestamp.seconds, -1);
        assert_eq!(timestamp.nanos, 500_000_000);
        assert_eq!(parse_timestamp("at", Some(&timestamp)).unwrap(), instant);
    }

    #[test]
    fn parse_timestamp_limits() {
        let at = |seconds: i64, nanos: i32| Timestamp { seconds, nanos };

        assert!(parse_timestamp("at", Some(&at(MIN_TIMESTAMP_SECONDS, 0))).is_ok());
        assert!(parse_timestamp("at", Some(&at(MAX_TIMESTAMP_SECONDS, MAX_NANOS))).is_ok());

        let cases = [
            (at(0, -1), "at.nanos"),
            (at(0, 1_000_000_000), "at.nanos"),
            (at(0, i32::MIN), "at.nanos"),
            (at(MIN_TIMESTAMP_SECONDS - 1, 0), "at.seconds"),
            (at(MAX_TIMESTAMP_SECONDS + 1, 0), "at.seconds"),
            (at(i64::MAX, 0), "at.seconds"),
            (at(i64::MIN, 0), "at.seconds"),
        ];
        for (timestamp, field) in cases {
            let violation = parse_timestamp("at", Some(&timestamp)).unwrap_err();
            assert_eq!(violation.field, field, "{timestamp:?}");
        }

        assert_eq!(
            parse_timestamp("at", None).unwrap_err(),
            FieldViolation::new("at", "is required")
        );
    }

    #[test]
    fn parse_request_id_forms() {
        let hyphenated = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        let expected = Uuid::parse_str(hyphenated).unwrap();

        assert_eq!(parse_request_id("request_id", hyphenated).unwrap(), expected);
        // Upper case would make a second idempotency key for the same id.
        assert!(parse_request_id("request_id", &hyphenated.to_uppercase()).is_err());

        let rejected = [
            "",
            "00000000-0000-0000-0000-000000000000",
            "67e5504410b1426f9247bb680e5fe0c8",
            "{67e55044-10b1-426f-9247-bb680e5fe0c8}",
            "urn:uuid:67e55044-10b1-426f-9247-bb680e5fe0c8",
            "67e55044-10b1-426f-9247-bb680e5fe0c",
            "67e55044-10b1-426f-9247-bb680e5fe0c8 ",
            "67e55044-10b1-426f-9247-bb680e5fe0cg",
            "67e55044+10b1-426f-9247-bb680e5fe0c8",
            "６7e55044-10b1-426f-9247-bb680e5fe0c",
            "not-a-uuid",
        ];
        for text in rejected {
            let violation = parse_request_id("request_id", text).expect_err(text);
            assert_eq!(violation.field, "request_id", "{text:?}");
        }
    }

    #[test]
    fn parse_request_id_nil_message() {
        let violation = parse_request_id("request_id", "00000000-0000-0000-0000-000000000000").unwrap_err();

        assert!(
            violation.description.contains("nil UUID"),
            "{}",
            violation.description
        );
    }

    #[test]
    fn require_text_rules() {
        assert_eq!(require_text("name", "  张三 ", 10).unwrap(), "张三");
        assert_eq!(require_text("name", "张三", 2).unwrap(), "张三");

        let cases = [
            ("", "is required"),
            ("   ", "is required"),
            ("张三李王", "at most 3 characters"),
            ("a\nb", "control characters, found U+000A"),
            ("a\tb", "control characters, found U+0009"),
            ("a\u{7f}", "control characters, found U+007F"),
            ("a\u{0}", "control characters, found U+0000"),
        ];
        for (text, expected) in cases {
            let violation = require_text("name", text, 3).expect_err(text);
            assert_eq!(violation.field, "name");
            assert!(
                violation.description.contains(expected),
                "{text:?}: {}",
                violation.description
            );
        }
    }

    #[test]
    fn require_identifier_rules() {
        assert_eq!(require_identifier("id", "TD-CNY_1.2").unwrap(), "TD-CNY_1.2");
        assert!(require_identifier("id", &"a".repeat(64)).is_ok());

        for text in ["", "a b", "a/b", "é", "a\n", &"a".repeat(65), "１"] {
            let violation = require_identifier("id", text).expect_err(text);
            assert_eq!(violation.field, "id");
        }
    }

    #[test]
    fn require_masked_id_number_rules() {
        for text in [
            "110***********1234",
            "110101********1234",
            "****",
            "A***",
            "*1234567890",
        ] {
            assert_eq!(require_masked_id_number("id", text).unwrap(), text);
        }

        let rejected = [
            "",
            "110101199001011234",
            "11010119900101123X",
            "*11010119900101123",
            "1101011*9900101123",
            "***",
            "110-***-1234",
            "110 ****1234",
            "110＊＊＊1234",
            &"*".repeat(33),
        ];
        for text in rejected {
            let violation = require_masked_id_number("id", text).expect_err(text);
            assert_eq!(violation.field, "id");
            if !text.is_empty() {
                assert!(
                    !violation.description.contains(text),
                    "the violation must not quote the number: {}",
                    violation.description
                );
            }
        }
    }

    #[test]
    fn envelope_round_trip() {
        let signing_key = attestation::SigningKey::generate();
        let envelope = signing_key.sign("bank.withdrawal.v1.ReleaseOrder", vec![1, 2, 3]);

        let message = envelope_to_proto(&envelope);

        assert_eq!(message.payload_type, "bank.withdrawal.v1.ReleaseOrder");
        assert_eq!(message.payload, vec![1, 2, 3]);
        assert_eq!(message.key_id, signing_key.key_id());
        assert_eq!(message.signature.len(), attestation::SIGNATURE_LENGTH);
        assert_eq!(envelope_from_proto(&message), envelope);
    }

    fn key_message() -> (attestation::VerifyingKey, VerificationKey) {
        let key = attestation::SigningKey::generate().verifying_key();
        let valid_from = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        let valid_until = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let message = verification_key_to_proto(&key, valid_from, Some(valid_until), true).unwrap();
        (key, message)
    }

    #[test]
    fn verification_key_round_trip() {
        let (key, message) = key_message();

        assert_eq!(message.public_key, key.to_bytes().to_vec());
        assert!(message.public_key_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(message.key_id, key.key_id());

        let published = verification_key_from_proto("keys", &message).unwrap();

        assert_eq!(published.key, key);
        assert_eq!(
            published.valid_from,
            Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(
            published.valid_until,
            Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
        );
        assert!(published.active);
    }

    #[test]
    fn verification_key_from_one_form() {
        let (key, message) = key_message();

        let raw_only = VerificationKey {
            public_key_pem: String::new(),
            ..message.clone()
        };
        assert_eq!(verification_key_from_proto("k", &raw_only).unwrap().key, key);

        let pem_only = VerificationKey {
            public_key: Vec::new(),
            ..message
        };
        assert_eq!(verification_key_from_proto("k", &pem_only).unwrap().key, key);
    }

    #[test]
    fn verification_key_rejects_mismatches() {
        let (_, message) = key_message();
        let (_, other) = key_message();

        let cases = [
            (
                VerificationKey {
                    public_key_pem: other.public_key_pem.clone(),
                    ..message.clone()
                },
                "k.public_key_pem",
            ),
            (
                VerificationKey {
                    key_id: other.key_id.clone(),
                    ..message.clone()
                },
                "k.key_id",
            ),
            (
                VerificationKey {
                    key_id: String::new(),
                    ..message.clone()
                },
                "k.key_id",
            ),
            (
                VerificationKey {
                    public_key: Vec::new(),
                    public_key_pem: String::new(),
                    ..message.clone()
                },
                "k.public_key",
            ),
            (
                VerificationKey {
                    public_key: vec![0; 31],
                    ..message.clone()
                },
                "k.public_key",
            ),
            (
                VerificationKey {
                    public_key_pem: "-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----\n".to_string(),
                    ..message.clone()
                },
                "k.public_key_pem",
            ),
            (
                VerificationKey {
                    valid_from: None,
                    ..message.clone()
                },
                "k.valid_from",
            ),
            (
                VerificationKey {
                    valid_until: message.valid_from,
                    ..message.clone()
                },
                "k.valid_until",
            ),
        ];
        for (bad, field) in cases {
            let violation = verification_key_from_proto("k", &bad).unwrap_err();
            assert_eq!(violation.field, field, "{}", violation.description);
        }
    }

    #[test]
    fn quote_cuts_long_values() {
        let long = "é".repeat(100);

        assert_eq!(quote(&long), format!("{:?}...", "é".repeat(MAX_QUOTED_CHARS)));
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
    }

    /// Strings built from characters that the parsers treat specially.
    fn hostile_string() -> impl Strategy<Value = String> {
        let alphabet = prop::sample::select(vec![
            '0', '1', '5', '9', '-', '+', '.', ',', 'e', 'E', ' ', '*', 'x', '\n', '\u{0}', '１', '٣', 'é',
            '_', '/', ':', 'T', 'Z',
        ]);
        prop::collection::vec(alphabet, 0..40).prop_map(|characters| characters.into_iter().collect())
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in hostile_string(), currency in "[A-Za-z]{0,4}", max_chars in 0usize..50) {
            let money = Money { amount: text.clone(), currency_code: currency };
            let _ = parse_money("m", Some(&money));
            let _ = parse_positive_money("m", Some(&money));
            let _ = parse_money("m", Some(&cny(&text)));
            let _ = parse_date("d", &text);
            let _ = parse_request_id("r", &text);
            let _ = require_text("t", &text, max_chars);
            let _ = require_identifier("i", &text);
            let _ = require_masked_id_number("n", &text);
        }

        #[test]
        fn parsers_never_panic_on_any_string(text in any::<String>()) {
            let _ = parse_money("m", Some(&cny(&text)));
            let _ = parse_date("d", &text);
            let _ = parse_request_id("r", &text);
            let _ = require_text("t", &text, 10);
            let _ = require_identifier("i", &text);
            let _ = require_masked_id_number("n", &text);
            let _ = parse_currency_code("c", &text);
        }

        #[test]
        fn accepted_amounts_format_back_unchanged(
            negative in any::<bool>(),
            integer in 0u64..1_000_000_000_000_000,
            cents in proptest::option::of(0u32..100),
        ) {
            let sign = if negative && (integer > 0 || cents.is_some_and(|c| c > 0)) { "-" } else { "" };
            let text = match cents {
                Some(cents) => format!("{sign}{integer}.{cents:02}"),
                None => format!("{sign}{integer}"),
            };

            let (amount, currency) = parse_money("m", Some(&cny(&text))).unwrap();

            prop_assert_eq!(amount, Decimal::from_str(&text).unwrap());
            let formatted = money(amount, &currency);
            let reparsed = parse_money("m", Some(&formatted)).unwrap().0;
            prop_assert_eq!(reparsed, amount);
        }

        #[test]
        fn timestamps_in_range_round_trip(seconds in MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS, nanos in 0..=MAX_NANOS) {
            let timestamp = Timestamp { seconds, nanos };

            let instant = parse_timestamp("at", Some(&timestamp)).unwrap();

            prop_assert_eq!(to_timestamp(instant), timestamp);
        }

        #[test]
        fn any_timestamp_never_panics(seconds in any::<i64>(), nanos in any::<i32>()) {
            let _ = parse_timestamp("at", Some(&Timestamp { seconds, nanos }));
        }
    }
}

/// Formats an amount for people to read: thousands separators and exactly
/// `places` decimal places, for example 7015.33 as "7,015.33". Screens, slips
/// and disclosures use it; protobuf fields use [`money`] instead.
pub fn format_amount_grouped(amount: Decimal, places: u32) -> String {
    let mut value =
        amount.round_dp_with_strategy(places, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    value.rescale(places);
    let text = value.abs().to_string();
    let (integer, fraction) = match text.split_once('.') {
        Some((integer, fraction)) => (integer, Some(fraction)),
        None => (text.as_str(), None),
    };
    let mut grouped = String::with_capacity(integer.len() + integer.len() / 3);
    for (index, digit) in integer.chars().enumerate() {
        if index > 0 && (integer.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if value.is_sign_negative() && !value.is_zero() {
        "-"
    } else {
        ""
    };
    match fraction {
        Some(fraction) => format!("{sign}{grouped}.{fraction}"),
        None => format!("{sign}{grouped}"),
    }
}

#[cfg(test)]
mod grouped_tests {
    use super::*;

    #[test]
    fn grouped_amounts() {
        assert_eq!(format_amount_grouped(Decimal::new(8_000_000, 2), 2), "80,000.00");
        assert_eq!(format_amount_grouped(Decimal::new(701_533, 2), 2), "7,015.33");
        assert_eq!(format_amount_grouped(Decimal::new(18_467, 2), 2), "184.67");
        assert_eq!(format_amount_grouped(Decimal::new(225, 0), 2), "225.00");
        assert_eq!(format_amount_grouped(Decimal::new(-123_456, 2), 2), "-1,234.56");
        assert_eq!(
            format_amount_grouped(Decimal::new(99_999_999_999_999, 2), 2),
            "999,999,999,999.99"
        );
        assert_eq!(format_amount_grouped(Decimal::new(1_000, 0), 0), "1,000");
    }
}

#[cfg(test)]
mod hostile_text_tests {
    use super::*;

    #[test]
    fn invisible_characters_rejected() {
        for text in ["\u{200b}", "a\u{202e}nimda", "王\u{2066}芳", "\u{feff}x"] {
            assert!(require_text("name", text, 100).is_err(), "{text:?} accepted");
        }
        assert_eq!(require_text("name", " 王芳 ", 100).unwrap(), "王芳");
    }

    #[test]
    fn upper_case_request_id_rejected() {
        let lower = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f";
        assert!(parse_request_id("request_id", lower).is_ok());
        assert!(parse_request_id("request_id", &lower.to_uppercase()).is_err());
    }
}
