//! Simple interest in integer minor units, computed exactly and rounded once.

use crate::rounding::divide_round_half_up;
use crate::{DayBasis, QuoteError, Rate, Term};

/// Denominator that turns a rate in millionths of a percent into a fraction.
const RATE_DENOMINATOR: i128 = 100 * 1_000_000;

/// Computes interest for a number of days: principal x annual rate x days / days per
/// year of `day_basis`, rounded once half up to the minor unit.
///
/// `principal_units` and the result are in minor units (fen for CNY).
pub(crate) fn interest_for_days(
    principal_units: i128,
    rate: Rate,
    days: u32,
    day_basis: DayBasis,
) -> Result<i128, QuoteError> {
    simple_interest(
        principal_units,
        rate,
        i128::from(days),
        i128::from(day_basis.days_per_year()),
    )
}

/// Computes interest for the full term: principal x annual rate x months / 12, rounded
/// once half up to the minor unit.
///
/// `principal_units` and the result are in minor units (fen for CNY).
pub(crate) fn interest_for_term(principal_units: i128, rate: Rate, term: Term) -> Result<i128, QuoteError> {
    simple_interest(principal_units, rate, i128::from(term.months()), 12)
}

/// Computes principal x rate x periods / periods per year as one fraction and rounds it
/// once, so no intermediate product is rounded or truncated.
fn simple_interest(
    principal_units: i128,
    rate: Rate,
    periods: i128,
    periods_per_year: i128,
) -> Result<i128, QuoteError> {
    let numerator = principal_units
        .checked_mul(rate.percent_millionths())
        .and_then(|product| product.checked_mul(periods));
    let denominator = periods_per_year.checked_mul(RATE_DENOMINATOR);

    match (numerator, denominator) {
        (Some(numerator), Some(denominator)) => {
            divide_round_half_up(numerator, denominator).ok_or(QuoteError::ArithmeticOverflow)
        }
        _ => Err(QuoteError::ArithmeticOverflow),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(percent: &str) -> Rate {
        percent.parse().unwrap()
    }

    fn term(months: u32) -> Term {
        Term::try_from(months).unwrap()
    }

    #[test]
    fn day_interest_rounds_once() {
        // 80,000.00 x 0.10% x 831 / 360 = 184.6666... -> 184.67.
        assert_eq!(
            interest_for_days(8_000_000, rate("0.10"), 831, DayBasis::Actual360),
            Ok(18_467)
        );
        // 5,000.00 x 0.35% x 198 / 360 = 9.625 -> 9.63.
        assert_eq!(
            interest_for_days(500_000, rate("0.35"), 198, DayBasis::Actual360),
            Ok(963)
        );
        // 10,000.00 x 0.35% x 198 / 365 = 18.9863... -> 18.99.
        assert_eq!(
            interest_for_days(1_000_000, rate("0.35"), 198, DayBasis::Actual365),
            Ok(1899)
        );
    }

    #[test]
    fn term_interest_uses_months() {
        assert_eq!(interest_for_term(8_000_000, rate("3.00"), term(36)), Ok(720_000));
        assert_eq!(interest_for_term(1_000_000, rate("2.25"), term(12)), Ok(22_500));
        // 100.01 x 1.75% x 3 / 12 = 0.43754375 -> 0.44.
        assert_eq!(interest_for_term(10_001, rate("1.75"), term(3)), Ok(44));
    }

    #[test]
    fn zero_rate_or_days_earns_nothing() {
        assert_eq!(
            interest_for_days(1_000_000, rate("0"), 365, DayBasis::Actual360),
            Ok(0)
        );
        assert_eq!(
            interest_for_days(1_000_000, rate("0.35"), 0, DayBasis::Actual360),
            Ok(0)
        );
    }

    #[test]
    fn overflow_is_typed_error() {
        assert_eq!(
            interest_for_days(i128::MAX, rate("1"), 1, DayBasis::Actual360),
            Err(QuoteError::ArithmeticOverflow)
        );
    }
}
