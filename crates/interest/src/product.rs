//! Per-product settings that the interest rules depend on.

use rust_decimal::Decimal;

use crate::rounding::{MAX_MINOR_UNIT_DIGITS, to_scaled_integer};
use crate::{DayBasis, QuoteError};

/// Settings of a lump-sum time deposit product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Product {
    /// Day-count basis for demand interest on early and overdue withdrawals.
    pub day_basis: DayBasis,
    /// Smallest balance that may remain after a partial early withdrawal, usually the
    /// product's minimum opening amount (起存金额). A partial withdrawal that would leave
    /// less is rejected, so only a full withdrawal is possible.
    pub min_remaining_principal: Decimal,
    /// Decimal places of the currency's minor unit, which is the rounding step of
    /// interest and the limit on decimal places in amounts (2 for CNY fen).
    pub minor_unit_digits: u32,
}

impl Product {
    /// Default minimum remaining principal: 50.00, the usual minimum opening amount of a
    /// CNY lump-sum time deposit.
    pub const DEFAULT_MIN_REMAINING_PRINCIPAL: Decimal = Decimal::from_parts(5000, 0, 0, false, 2);

    /// Default minor-unit digits: 2, for CNY.
    pub const DEFAULT_MINOR_UNIT_DIGITS: u32 = 2;

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// Returns [`QuoteError::MinorUnitDigitsTooLarge`] when `minor_unit_digits` exceeds
    /// [`MAX_MINOR_UNIT_DIGITS`], and [`QuoteError::InvalidMinimumRemainingPrincipal`]
    /// when `min_remaining_principal` is negative or has more decimal places than the
    /// currency allows.
    pub fn validate(&self) -> Result<(), QuoteError> {
        if self.minor_unit_digits > MAX_MINOR_UNIT_DIGITS {
            return Err(QuoteError::MinorUnitDigitsTooLarge {
                digits: self.minor_unit_digits,
                maximum: MAX_MINOR_UNIT_DIGITS,
            });
        }

        let minimum = self.min_remaining_principal;
        let fits_minor_unit = to_scaled_integer(minimum, self.minor_unit_digits).is_some();
        if minimum < Decimal::ZERO || !fits_minor_unit {
            return Err(QuoteError::InvalidMinimumRemainingPrincipal {
                minimum,
                max_places: self.minor_unit_digits,
            });
        }

        Ok(())
    }
}

impl Default for Product {
    /// Actual/360, a minimum remaining principal of 50.00 and 2 minor-unit digits (CNY).
    fn default() -> Self {
        Product {
            day_basis: DayBasis::default(),
            min_remaining_principal: Self::DEFAULT_MIN_REMAINING_PRINCIPAL,
            minor_unit_digits: Self::DEFAULT_MINOR_UNIT_DIGITS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn default_settings() {
        let product = Product::default();
        assert_eq!(product.day_basis, DayBasis::Actual360);
        assert_eq!(product.min_remaining_principal, dec!(50.00));
        assert_eq!(product.min_remaining_principal.to_string(), "50.00");
        assert_eq!(product.minor_unit_digits, 2);
        assert_eq!(product.validate(), Ok(()));
    }

    #[test]
    fn accepts_zero_minimum_and_four_digits() {
        let product = Product {
            day_basis: DayBasis::Actual365,
            min_remaining_principal: dec!(0),
            minor_unit_digits: 4,
        };
        assert_eq!(product.validate(), Ok(()));
    }

    #[test]
    fn rejects_too_many_minor_unit_digits() {
        let product = Product {
            minor_unit_digits: 5,
            ..Product::default()
        };
        assert_eq!(
            product.validate(),
            Err(QuoteError::MinorUnitDigitsTooLarge {
                digits: 5,
                maximum: 4
            })
        );
    }

    #[test]
    fn rejects_negative_minimum() {
        let product = Product {
            min_remaining_principal: dec!(-1.00),
            ..Product::default()
        };
        assert_eq!(
            product.validate(),
            Err(QuoteError::InvalidMinimumRemainingPrincipal {
                minimum: dec!(-1.00),
                max_places: 2
            })
        );
    }

    #[test]
    fn rejects_minimum_below_minor_unit() {
        let product = Product {
            min_remaining_principal: dec!(50.001),
            ..Product::default()
        };
        assert_eq!(
            product.validate(),
            Err(QuoteError::InvalidMinimumRemainingPrincipal {
                minimum: dec!(50.001),
                max_places: 2
            })
        );
    }
}
