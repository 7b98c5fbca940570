//! Display formatting of amounts for screens and slips.

use rust_decimal::Decimal;

/// Formats an amount with thousands separators and exactly two decimal places,
/// for example `80000` as `80,000.00`. Amounts here are already rounded to the
/// fen, so the rescale never rounds.
pub fn amount(value: Decimal) -> String {
    let mut value = value;
    value.rescale(2);
    let text = value.abs().to_string();
    let (integer, fraction) = text.split_once('.').unwrap_or((&text, "00"));

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
    format!("{sign}{grouped}.{fraction}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amount_groups_thousands() {
        assert_eq!(amount(Decimal::new(8_000_000, 2)), "80,000.00");
        assert_eq!(amount(Decimal::new(701_533, 2)), "7,015.33");
        assert_eq!(amount(Decimal::new(18_467, 2)), "184.67");
        assert_eq!(amount(Decimal::new(99_999_999_999_999, 2)), "999,999,999,999.99");
    }

    #[test]
    fn amount_pads_to_two_places() {
        assert_eq!(amount(Decimal::new(225, 0)), "225.00");
        assert_eq!(amount(Decimal::ZERO), "0.00");
    }

    #[test]
    fn amount_keeps_sign() {
        assert_eq!(amount(Decimal::new(-123_456, 2)), "-1,234.56");
    }
}
