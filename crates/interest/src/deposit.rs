//! The terms of a lump-sum time deposit and their validation.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::rounding::to_scaled_integer;
use crate::{Product, QuoteError, Rate, Term, maturity_date};

/// Largest principal accepted: 999,999,999,999.99.
///
/// At this principal, with any rate up to 100% and any date chrono can represent, the
/// interest arithmetic stays far inside i128.
pub const MAX_PRINCIPAL: Decimal = Decimal::from_parts(0x107A_3FFF, 0x5AF3, 0, false, 2);

/// Terms of a lump-sum time deposit (整存整取) as they stand on the quote date.
///
/// [`crate::quote`] validates every field through [`Deposit::validate`], so a caller may
/// build this struct directly from untrusted input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Deposit {
    /// Current balance. After a partial early withdrawal this is the remaining principal.
    pub principal: Decimal,
    /// Annual rate posted on the opening date. It stays fixed for the whole term even
    /// when posted rates change (储蓄管理条例, State Council Order No. 107, article 26).
    pub contract_rate: Rate,
    /// Term of the deposit.
    pub term: Term,
    /// Opening date, the first day that earns interest.
    pub opened_on: NaiveDate,
    /// Product settings: day basis, minimum remaining principal and currency digits.
    pub product: Product,
    /// Whether the deposit's one partial early withdrawal has already been made.
    pub partial_withdrawal_used: bool,
}

impl Deposit {
    /// Checks the product settings and the principal.
    ///
    /// # Errors
    ///
    /// Returns the product's error from [`Product::validate`], or
    /// [`QuoteError::PrincipalNotPositive`], [`QuoteError::PrincipalTooManyDecimalPlaces`]
    /// or [`QuoteError::PrincipalAboveMaximum`] for a principal that is not greater than
    /// 0, has more decimal places than the currency allows, or exceeds [`MAX_PRINCIPAL`].
    pub fn validate(&self) -> Result<(), QuoteError> {
        self.product.validate()?;

        let principal = self.principal;
        if principal <= Decimal::ZERO {
            return Err(QuoteError::PrincipalNotPositive { principal });
        }

        let max_places = self.product.minor_unit_digits;
        if to_scaled_integer(principal, max_places).is_none() {
            return Err(QuoteError::PrincipalTooManyDecimalPlaces {
                principal,
                max_places,
            });
        }

        if principal > MAX_PRINCIPAL {
            return Err(QuoteError::PrincipalAboveMaximum {
                principal,
                maximum: MAX_PRINCIPAL,
            });
        }

        Ok(())
    }

    /// Computes the maturity date with [`maturity_date`].
    ///
    /// # Errors
    ///
    /// Returns [`QuoteError::MaturityDateOutOfRange`] when the date is beyond chrono's range.
    pub fn maturity_date(&self) -> Result<NaiveDate, QuoteError> {
        maturity_date(self.opened_on, self.term)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn deposit(principal: Decimal) -> Deposit {
        Deposit {
            principal,
            contract_rate: "2.25".parse().unwrap(),
            term: Term::try_from(12).unwrap(),
            opened_on: NaiveDate::from_ymd_opt(2015, 7, 1).unwrap(),
            product: Product::default(),
            partial_withdrawal_used: false,
        }
    }

    #[test]
    fn max_principal_value() {
        assert_eq!(MAX_PRINCIPAL, dec!(999999999999.99));
        assert_eq!(MAX_PRINCIPAL.to_string(), "999999999999.99");
    }

    #[test]
    fn accepts_smallest_and_largest_principal() {
        assert_eq!(deposit(dec!(0.01)).validate(), Ok(()));
        assert_eq!(deposit(MAX_PRINCIPAL).validate(), Ok(()));
    }

    #[test]
    fn rejects_zero_and_negative_principal() {
        for principal in [dec!(0), dec!(0.00), dec!(-0.01), dec!(-10000)] {
            assert_eq!(
                deposit(principal).validate(),
                Err(QuoteError::PrincipalNotPositive { principal })
            );
        }
    }

    #[test]
    fn rejects_principal_below_fen() {
        assert_eq!(
            deposit(dec!(10000.001)).validate(),
            Err(QuoteError::PrincipalTooManyDecimalPlaces {
                principal: dec!(10000.001),
                max_places: 2
            })
        );
    }

    #[test]
    fn rejects_principal_above_maximum() {
        assert_eq!(
            deposit(dec!(1000000000000.00)).validate(),
            Err(QuoteError::PrincipalAboveMaximum {
                principal: dec!(1000000000000.00),
                maximum: MAX_PRINCIPAL
            })
        );
    }

    #[test]
    fn rejects_invalid_product() {
        let mut invalid = deposit(dec!(100.00));
        invalid.product.minor_unit_digits = 9;
        assert_eq!(
            invalid.validate(),
            Err(QuoteError::MinorUnitDigitsTooLarge {
                digits: 9,
                maximum: 4
            })
        );
    }
}
