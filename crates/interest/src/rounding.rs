//! Exact conversion between decimal amounts and integers at a fixed scale, division
//! with half-up rounding, and the public helper that splits a share of an amount.
//!
//! Every interest amount is computed as one integer fraction and rounded once here, so
//! no intermediate result is ever rounded or truncated.

use rust_decimal::Decimal;

/// Largest number of minor-unit digits (decimal places of the currency) accepted.
///
/// ISO 4217 currencies use 0 to 4. The limit also keeps the i128 interest arithmetic
/// far from overflow for every principal up to [`crate::MAX_PRINCIPAL`].
pub const MAX_MINOR_UNIT_DIGITS: u32 = 4;

/// Converts `value` to an integer count of `10^-places` units, or returns `None` when
/// `value` has more significant decimal places than `places` or the count overflows.
///
/// Trailing zeros do not count as places, so `80000.000` is 8,000,000 fen.
pub(crate) fn to_scaled_integer(value: Decimal, places: u32) -> Option<i128> {
    let normalized = value.normalize();
    let scale = normalized.scale();
    if scale > places {
        return None;
    }

    let factor = 10_i128.checked_pow(places - scale)?;
    normalized.mantissa().checked_mul(factor)
}

/// Converts a count of `10^-places` units back to a decimal with exactly `places`
/// decimal places, or returns `None` when the count does not fit in a [`Decimal`].
pub(crate) fn from_scaled_integer(units: i128, places: u32) -> Option<Decimal> {
    Decimal::try_from_i128_with_scale(units, places).ok()
}

/// Divides and rounds half away from zero (四舍五入), the integer equivalent of
/// `RoundingStrategy::MidpointAwayFromZero`.
///
/// Returns `None` when `denominator` is zero or a step overflows.
pub(crate) fn divide_round_half_up(numerator: i128, denominator: i128) -> Option<i128> {
    let quotient = numerator.checked_div(denominator)?;
    let remainder = numerator.checked_rem(denominator)?;

    // The remainder carries the sign of the numerator. Rounding moves the quotient
    // one unit away from zero when the remainder is at least half the divisor.
    let twice_remainder = remainder.checked_abs()?.checked_mul(2)?;
    if twice_remainder < denominator.checked_abs()? {
        return Some(quotient);
    }

    let away_from_zero = if (numerator < 0) == (denominator < 0) {
        1
    } else {
        -1
    };
    quotient.checked_add(away_from_zero)
}

/// A share of an amount and the rest of it, which add up to the amount exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AmountSplit {
    /// The share, rounded half up to the minor unit.
    pub share: Decimal,
    /// The amount minus the share, which needs no rounding.
    pub rest: Decimal,
}

/// Error from [`split_amount`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("share denominator is 0 (use a positive denominator, such as 2 for half)")]
    ZeroDenominator,

    #[error(
        "share {numerator}/{denominator} is more than the whole amount \
         (use a numerator no greater than the denominator)"
    )]
    ShareAboveWhole { numerator: u32, denominator: u32 },

    #[error("minor unit digits {digits} exceed the maximum {maximum} (use 2 for CNY)")]
    MinorUnitDigitsTooLarge { digits: u32, maximum: u32 },

    #[error(
        "amount {amount} has more than {max_places} decimal places \
         (round it to the currency's minor unit)"
    )]
    TooManyDecimalPlaces { amount: Decimal, max_places: u32 },

    #[error("amount {amount} is too large to split (the exact share overflows 128-bit arithmetic)")]
    ArithmeticOverflow { amount: Decimal },
}

/// Splits `numerator / denominator` of `amount` off as a share rounded half up
/// (四舍五入, away from zero) to the currency's minor unit, and returns the share
/// with the rest of the amount.
///
/// The share is computed exactly and rounded once. Half of a 7,015.33 loss is
/// 3,507.665, so the share is 3,507.67 and the rest 3,507.66. Half-even rounding
/// would give 3,507.66, which is wrong for this rule.
///
/// # Errors
///
/// Returns [`SplitError`] when the denominator is 0, the share is more than the whole,
/// `minor_unit_digits` exceeds [`MAX_MINOR_UNIT_DIGITS`], `amount` has more decimal
/// places than the currency allows, or the exact share overflows 128-bit arithmetic.
pub fn split_amount(
    amount: Decimal,
    numerator: u32,
    denominator: u32,
    minor_unit_digits: u32,
) -> Result<AmountSplit, SplitError> {
    if denominator == 0 {
        return Err(SplitError::ZeroDenominator);
    }
    if numerator > denominator {
        return Err(SplitError::ShareAboveWhole {
            numerator,
            denominator,
        });
    }
    if minor_unit_digits > MAX_MINOR_UNIT_DIGITS {
        return Err(SplitError::MinorUnitDigitsTooLarge {
            digits: minor_unit_digits,
            maximum: MAX_MINOR_UNIT_DIGITS,
        });
    }

    let amount_units =
        to_scaled_integer(amount, minor_unit_digits).ok_or(SplitError::TooManyDecimalPlaces {
            amount,
            max_places: minor_unit_digits,
        })?;

    let overflow = SplitError::ArithmeticOverflow { amount };
    let share_units = amount_units
        .checked_mul(i128::from(numerator))
        .and_then(|scaled| divide_round_half_up(scaled, i128::from(denominator)))
        .ok_or_else(|| overflow.clone())?;
    let rest_units = amount_units
        .checked_sub(share_units)
        .ok_or_else(|| overflow.clone())?;

    let share = from_scaled_integer(share_units, minor_unit_digits).ok_or_else(|| overflow.clone())?;
    let rest = from_scaled_integer(rest_units, minor_unit_digits).ok_or(overflow)?;
    Ok(AmountSplit { share, rest })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal::RoundingStrategy;
    use rust_decimal_macros::dec;

    #[test]
    fn scaled_integer_converts_fen() {
        assert_eq!(to_scaled_integer(dec!(80000.00), 2), Some(8_000_000));
        assert_eq!(to_scaled_integer(dec!(80000), 2), Some(8_000_000));
        assert_eq!(to_scaled_integer(dec!(0.01), 2), Some(1));
        assert_eq!(to_scaled_integer(dec!(-1.5), 2), Some(-150));
    }

    #[test]
    fn scaled_integer_ignores_trailing_zeros() {
        assert_eq!(to_scaled_integer(dec!(80000.000000), 2), Some(8_000_000));
    }

    #[test]
    fn scaled_integer_rejects_extra_places() {
        assert_eq!(to_scaled_integer(dec!(0.001), 2), None);
        assert_eq!(to_scaled_integer(dec!(3.0000001), 6), None);
    }

    #[test]
    fn scaled_integer_round_trips() {
        let units = to_scaled_integer(dec!(184.67), 2).unwrap();
        assert_eq!(from_scaled_integer(units, 2), Some(dec!(184.67)));
        assert_eq!(from_scaled_integer(0, 2).unwrap().to_string(), "0.00");
    }

    #[test]
    fn scaled_integer_rejects_oversized_decimal() {
        assert_eq!(from_scaled_integer(i128::MAX, 2), None);
    }

    #[test]
    fn division_rounds_half_away_from_zero() {
        // 9.625 -> 9.63, 3,507.665 -> 3,507.67, 184.666... -> 184.67.
        assert_eq!(divide_round_half_up(9625, 10), Some(963));
        assert_eq!(divide_round_half_up(701_533, 2), Some(350_767));
        assert_eq!(divide_round_half_up(6_648_000, 360), Some(18_467));
        assert_eq!(divide_round_half_up(9624, 10), Some(962));
        assert_eq!(divide_round_half_up(-9625, 10), Some(-963));
        assert_eq!(divide_round_half_up(9625, -10), Some(-963));
        assert_eq!(divide_round_half_up(-9625, -10), Some(963));
        assert_eq!(divide_round_half_up(0, 7), Some(0));
    }

    #[test]
    fn division_by_zero_is_none() {
        assert_eq!(divide_round_half_up(1, 0), None);
    }

    #[test]
    fn division_overflow_is_none() {
        assert_eq!(divide_round_half_up(i128::MIN, -1), None);
        assert_eq!(divide_round_half_up(i128::MAX, i128::MIN), None);
    }

    #[test]
    fn split_half_of_loss_rounds_up() {
        let split = split_amount(dec!(7015.33), 1, 2, 2).unwrap();
        assert_eq!(split.share, dec!(3507.67));
        assert_eq!(split.rest, dec!(3507.66));
    }

    #[test]
    fn split_whole_and_nothing() {
        let whole = split_amount(dec!(10.01), 3, 3, 2).unwrap();
        assert_eq!(whole.share, dec!(10.01));
        assert_eq!(whole.rest, dec!(0));

        let nothing = split_amount(dec!(10.01), 0, 3, 2).unwrap();
        assert_eq!(nothing.share, dec!(0));
        assert_eq!(nothing.rest, dec!(10.01));
    }

    #[test]
    fn split_rejects_zero_denominator() {
        assert_eq!(
            split_amount(dec!(1.00), 1, 0, 2),
            Err(SplitError::ZeroDenominator)
        );
    }

    #[test]
    fn split_rejects_share_above_whole() {
        assert_eq!(
            split_amount(dec!(1.00), 3, 2, 2),
            Err(SplitError::ShareAboveWhole {
                numerator: 3,
                denominator: 2
            })
        );
    }

    #[test]
    fn split_rejects_large_minor_unit_digits() {
        assert_eq!(
            split_amount(dec!(1.00), 1, 2, 5),
            Err(SplitError::MinorUnitDigitsTooLarge {
                digits: 5,
                maximum: MAX_MINOR_UNIT_DIGITS
            })
        );
    }

    #[test]
    fn split_rejects_extra_places() {
        assert_eq!(
            split_amount(dec!(1.005), 1, 2, 2),
            Err(SplitError::TooManyDecimalPlaces {
                amount: dec!(1.005),
                max_places: 2
            })
        );
    }

    #[test]
    fn split_reports_overflow() {
        assert_eq!(
            split_amount(Decimal::MAX, u32::MAX, u32::MAX, 4),
            Err(SplitError::ArithmeticOverflow { amount: Decimal::MAX })
        );
    }

    proptest! {
        #[test]
        fn division_matches_decimal_midpoint_away_from_zero(
            numerator in -10_i128.pow(20)..10_i128.pow(20),
            power in 0_u32..6,
        ) {
            // Dividing by a power of ten is exact in Decimal, so its own half-up
            // rounding is a trustworthy reference.
            let denominator = 10_i128.pow(power);
            let exact = Decimal::from_i128_with_scale(numerator, power);
            let expected = exact
                .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
                .mantissa();
            prop_assert_eq!(divide_round_half_up(numerator, denominator), Some(expected));
        }

        #[test]
        fn split_parts_add_up_to_amount(
            cents in -10_i128.pow(14)..10_i128.pow(14),
            denominator in 1_u32..1000,
            numerator_seed in 0_u32..1000,
        ) {
            let amount = Decimal::from_i128_with_scale(cents, 2);
            let numerator = numerator_seed % (denominator + 1);
            let split = split_amount(amount, numerator, denominator, 2).unwrap();
            prop_assert_eq!(split.share + split.rest, amount);
        }
    }
}
