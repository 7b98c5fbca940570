//! Annual interest rates in percent.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::QuoteError;
use crate::rounding::to_scaled_integer;

/// Annual interest rate in percent (3.00 means 3% a year), from 0 to 100 with at most
/// [`Rate::MAX_DECIMAL_PLACES`] decimal places.
///
/// Used both for the contract rate of a deposit and for the demand (活期) rate posted
/// on the withdrawal day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate {
    percent: Decimal,
    /// The same rate in millionths of a percent, the integer form used by the interest
    /// arithmetic.
    percent_millionths: i128,
}

impl Rate {
    /// Largest number of decimal places in a rate's percent, ignoring trailing zeros.
    pub const MAX_DECIMAL_PLACES: u32 = 6;

    /// Validates an annual rate given in percent.
    ///
    /// # Errors
    ///
    /// Returns [`QuoteError::RateOutOfRange`] unless 0 <= `percent` <= 100, and
    /// [`QuoteError::RateTooManyDecimalPlaces`] when `percent` has more than
    /// [`Rate::MAX_DECIMAL_PLACES`] decimal places after dropping trailing zeros.
    pub fn from_percent(mut percent: Decimal) -> Result<Self, QuoteError> {
        // Decimal compares -0 equal to 0, so only a negative zero's sign needs fixing.
        if percent.is_zero() {
            percent.set_sign_positive(true);
        }
        if percent < Decimal::ZERO || percent > Decimal::ONE_HUNDRED {
            return Err(QuoteError::RateOutOfRange { percent });
        }

        let percent_millionths = to_scaled_integer(percent, Self::MAX_DECIMAL_PLACES).ok_or(
            QuoteError::RateTooManyDecimalPlaces {
                percent,
                max_places: Self::MAX_DECIMAL_PLACES,
            },
        )?;

        Ok(Rate {
            percent,
            percent_millionths,
        })
    }

    /// Annual rate in percent, with the decimal places it was given with.
    pub const fn percent(self) -> Decimal {
        self.percent
    }

    /// Annual rate in millionths of a percent, so 3.00% is 3,000,000.
    pub(crate) const fn percent_millionths(self) -> i128 {
        self.percent_millionths
    }
}

impl TryFrom<Decimal> for Rate {
    type Error = QuoteError;

    fn try_from(percent: Decimal) -> Result<Self, Self::Error> {
        Rate::from_percent(percent)
    }
}

impl FromStr for Rate {
    type Err = QuoteError;

    /// Parses an annual percent such as `"3.00"` without a `%` sign.
    ///
    /// Parsing is exact, so input with more digits than a [`Decimal`] can represent is rejected
    /// instead of being rounded.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let percent = Decimal::from_str_exact(input).map_err(|_| QuoteError::InvalidRateFormat {
            input: input.to_owned(),
        })?;
        Rate::from_percent(percent)
    }
}

impl fmt::Display for Rate {
    /// Formats the percent without a `%` sign, as `FromStr` accepts it.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.percent, formatter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn parse_percent_string() {
        let rate: Rate = "3.00".parse().unwrap();
        assert_eq!(rate.percent(), dec!(3.00));
        assert_eq!(rate.percent_millionths(), 3_000_000);
        assert_eq!(rate.to_string(), "3.00");
    }

    #[test]
    fn accepts_bounds_and_six_places() {
        assert_eq!(Rate::from_percent(dec!(0)).unwrap().percent_millionths(), 0);
        assert_eq!(
            Rate::from_percent(dec!(100)).unwrap().percent_millionths(),
            100_000_000
        );
        assert_eq!(
            Rate::from_percent(dec!(1.234567)).unwrap().percent_millionths(),
            1_234_567
        );
    }

    #[test]
    fn accepts_trailing_zeros_beyond_six_places() {
        let rate = Rate::from_percent(dec!(2.250000000)).unwrap();
        assert_eq!(rate.percent_millionths(), 2_250_000);
    }

    #[test]
    fn negative_zero_is_zero() {
        let mut negative_zero = dec!(0.00);
        negative_zero.set_sign_negative(true);
        let rate = Rate::from_percent(negative_zero).unwrap();
        assert_eq!(rate.percent_millionths(), 0);
        assert_eq!(rate.to_string(), "0.00");
    }

    #[test]
    fn rejects_out_of_range() {
        for percent in [dec!(-0.01), dec!(100.000001), dec!(250)] {
            assert_eq!(
                Rate::from_percent(percent),
                Err(QuoteError::RateOutOfRange { percent })
            );
        }
    }

    #[test]
    fn rejects_seven_places() {
        assert_eq!(
            Rate::from_percent(dec!(1.2345678)),
            Err(QuoteError::RateTooManyDecimalPlaces {
                percent: dec!(1.2345678),
                max_places: 6
            })
        );
    }

    #[test]
    fn parse_rejects_non_numbers() {
        for input in ["", "abc", "3%", "3.0.0", "1e2"] {
            assert_eq!(
                input.parse::<Rate>(),
                Err(QuoteError::InvalidRateFormat {
                    input: input.to_owned()
                })
            );
        }
    }

    #[test]
    fn parse_rejects_digits_beyond_decimal_precision() {
        let input = "2.2500000000000000000000000000001";
        assert_eq!(
            input.parse::<Rate>(),
            Err(QuoteError::InvalidRateFormat {
                input: input.to_owned()
            })
        );
    }

    #[test]
    fn rates_compare_by_value() {
        let contract: Rate = "2.25".parse().unwrap();
        let demand: Rate = "0.35".parse().unwrap();
        assert!(demand < contract);
        assert_eq!("2.25".parse::<Rate>(), "2.250".parse::<Rate>());
    }
}
