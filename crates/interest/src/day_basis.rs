//! Day-count bases for interest on a number of days.

use std::fmt;
use std::str::FromStr;

use crate::QuoteError;

/// Day-count basis: actual days held divided by a fixed number of days per year.
///
/// Actual/360 is the default because PRC deposit interest conventionally turns an annual
/// rate into a daily rate over a 360-day year. A product may use Actual/365 instead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DayBasis {
    /// Actual days over a 360-day year.
    #[default]
    Actual360,
    /// Actual days over a 365-day year, including in leap years.
    Actual365,
}

impl DayBasis {
    /// Number of days in the year that a day count is divided by.
    pub const fn days_per_year(self) -> u32 {
        match self {
            DayBasis::Actual360 => 360,
            DayBasis::Actual365 => 365,
        }
    }

    /// Name used in configuration and by [`FromStr`]: `"actual-360"` or `"actual-365"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DayBasis::Actual360 => "actual-360",
            DayBasis::Actual365 => "actual-365",
        }
    }
}

impl fmt::Display for DayBasis {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for DayBasis {
    type Err = QuoteError;

    /// Parses `"actual-360"` or `"actual-365"`. Matching is exact and case-sensitive.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        match input {
            "actual-360" => Ok(DayBasis::Actual360),
            "actual-365" => Ok(DayBasis::Actual365),
            _ => Err(QuoteError::InvalidDayBasis {
                input: input.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_actual_360() {
        assert_eq!(DayBasis::default(), DayBasis::Actual360);
    }

    #[test]
    fn days_per_year_by_basis() {
        assert_eq!(DayBasis::Actual360.days_per_year(), 360);
        assert_eq!(DayBasis::Actual365.days_per_year(), 365);
    }

    #[test]
    fn parse_and_display_round_trip() {
        for basis in [DayBasis::Actual360, DayBasis::Actual365] {
            assert_eq!(basis.to_string().parse::<DayBasis>(), Ok(basis));
        }
        assert_eq!("actual-360".parse::<DayBasis>(), Ok(DayBasis::Actual360));
        assert_eq!("actual-365".parse::<DayBasis>(), Ok(DayBasis::Actual365));
    }

    #[test]
    fn parse_rejects_unknown_name() {
        for input in ["actual/360", "Actual-360", "30-360", ""] {
            assert_eq!(
                input.parse::<DayBasis>(),
                Err(QuoteError::InvalidDayBasis {
                    input: input.to_owned()
                })
            );
        }
    }
}
