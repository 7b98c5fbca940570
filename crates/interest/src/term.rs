//! Deposit terms, maturity dates and the maturity state on a business date.

use std::fmt;

use chrono::{Months, NaiveDate};

use crate::QuoteError;

/// Term of a lump-sum time deposit (整存整取): 3, 6, 12, 24, 36 or 60 months, the
/// terms that PRC banks offer for this product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Term {
    months: u32,
}

impl Term {
    /// Every valid term, in months.
    pub const ALLOWED_MONTHS: [u32; 6] = [3, 6, 12, 24, 36, 60];

    /// Length of the term in months.
    pub const fn months(self) -> u32 {
        self.months
    }
}

impl TryFrom<u32> for Term {
    type Error = QuoteError;

    fn try_from(months: u32) -> Result<Self, Self::Error> {
        if Term::ALLOWED_MONTHS.contains(&months) {
            Ok(Term { months })
        } else {
            Err(QuoteError::InvalidTerm { months })
        }
    }
}

impl fmt::Display for Term {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} months", self.months)
    }
}

/// Computes the maturity date: the opening date plus the term in months.
///
/// When the target month has no such day, the deposit matures on the last day of that
/// month, so a deposit opened on 2024-08-31 for 6 months matures on 2025-02-28.
/// `NaiveDate::checked_add_months` in chrono 0.4 implements exactly this clamping.
///
/// # Errors
///
/// Returns [`QuoteError::MaturityDateOutOfRange`] when the maturity date would be after
/// `NaiveDate::MAX` (the year 262142 in chrono 0.4).
pub fn maturity_date(opened_on: NaiveDate, term: Term) -> Result<NaiveDate, QuoteError> {
    opened_on
        .checked_add_months(Months::new(term.months()))
        .ok_or(QuoteError::MaturityDateOutOfRange {
            opened_on,
            term_months: term.months(),
            last_supported: NaiveDate::MAX,
        })
}

/// State of a deposit on a business date, relative to its maturity date.
///
/// A deposit is matured on and after its maturity date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MaturityState {
    /// The business date is before the maturity date.
    Unmatured,
    /// The business date is the maturity date.
    Matured,
    /// The business date is after the maturity date.
    Overdue,
}

impl MaturityState {
    /// Determines the state of a deposit maturing on `maturity_date` on the business
    /// date `on`.
    pub fn determine(on: NaiveDate, maturity_date: NaiveDate) -> Self {
        match on.cmp(&maturity_date) {
            std::cmp::Ordering::Less => MaturityState::Unmatured,
            std::cmp::Ordering::Equal => MaturityState::Matured,
            std::cmp::Ordering::Greater => MaturityState::Overdue,
        }
    }

    /// Lower-case name: `"unmatured"`, `"matured"` or `"overdue"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            MaturityState::Unmatured => "unmatured",
            MaturityState::Matured => "matured",
            MaturityState::Overdue => "overdue",
        }
    }
}

impl fmt::Display for MaturityState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    fn term(months: u32) -> Term {
        Term::try_from(months).unwrap()
    }

    #[test]
    fn term_accepts_allowed_months() {
        for months in Term::ALLOWED_MONTHS {
            assert_eq!(Term::try_from(months).map(Term::months), Ok(months));
        }
    }

    #[test]
    fn term_rejects_other_months() {
        for months in [0, 1, 2, 4, 9, 18, 48, 61, 120, u32::MAX] {
            assert_eq!(Term::try_from(months), Err(QuoteError::InvalidTerm { months }));
        }
    }

    #[test]
    fn term_display_shows_months() {
        assert_eq!(term(36).to_string(), "36 months");
    }

    #[test]
    fn maturity_adds_whole_months() {
        assert_eq!(maturity_date(date(2015, 7, 1), term(12)), Ok(date(2016, 7, 1)));
        assert_eq!(
            maturity_date(date(2022, 11, 14), term(36)),
            Ok(date(2025, 11, 14))
        );
        assert_eq!(maturity_date(date(2020, 1, 15), term(60)), Ok(date(2025, 1, 15)));
    }

    #[test]
    fn maturity_clamps_to_month_end() {
        assert_eq!(maturity_date(date(2024, 8, 31), term(6)), Ok(date(2025, 2, 28)));
        assert_eq!(maturity_date(date(2024, 5, 31), term(3)), Ok(date(2024, 8, 31)));
        assert_eq!(maturity_date(date(2024, 3, 31), term(3)), Ok(date(2024, 6, 30)));
    }

    #[test]
    fn maturity_clamps_to_leap_day() {
        assert_eq!(maturity_date(date(2023, 8, 31), term(6)), Ok(date(2024, 2, 29)));
        assert_eq!(maturity_date(date(2024, 2, 29), term(12)), Ok(date(2025, 2, 28)));
        assert_eq!(maturity_date(date(2024, 2, 29), term(24)), Ok(date(2026, 2, 28)));
    }

    #[test]
    fn maturity_past_max_date_is_error() {
        let opened_on = NaiveDate::MAX;
        assert_eq!(
            maturity_date(opened_on, term(3)),
            Err(QuoteError::MaturityDateOutOfRange {
                opened_on,
                term_months: 3,
                last_supported: NaiveDate::MAX,
            })
        );
    }

    #[test]
    fn state_on_each_side_of_maturity() {
        let maturity = date(2016, 7, 1);
        assert_eq!(
            MaturityState::determine(date(2016, 6, 30), maturity),
            MaturityState::Unmatured
        );
        assert_eq!(
            MaturityState::determine(maturity, maturity),
            MaturityState::Matured
        );
        assert_eq!(
            MaturityState::determine(date(2016, 7, 2), maturity),
            MaturityState::Overdue
        );
    }

    #[test]
    fn state_names() {
        assert_eq!(MaturityState::Unmatured.as_str(), "unmatured");
        assert_eq!(MaturityState::Matured.as_str(), "matured");
        assert_eq!(MaturityState::Overdue.as_str(), "overdue");
        assert_eq!(MaturityState::Overdue.to_string(), "overdue");
    }
}
