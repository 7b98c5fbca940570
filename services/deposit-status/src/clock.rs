//! The business date the service books on.

use chrono::{NaiveDate, Utc};
use chrono_tz::Tz;

/// Name of the `settings` row that holds a business date fixed through
/// DepositAdminService.SetBusinessDate. It lives in the database so that every
/// replica books on the same date.
pub const BUSINESS_DATE_SETTING: &str = "business_date";

/// Where the business date comes from: a date fixed in the database (when
/// overrides are allowed), else a date fixed by configuration, else today's
/// calendar date in the configured time zone.
#[derive(Debug, Clone)]
pub struct BusinessClock {
    time_zone: Tz,
    configured_date: Option<NaiveDate>,
    allow_override: bool,
}

/// A business date and whether it is fixed rather than read from the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusinessDate {
    /// The date.
    pub date: NaiveDate,
    /// True when configuration or an override fixed it.
    pub fixed: bool,
}

impl BusinessClock {
    /// Creates a clock for `time_zone`, optionally fixed to `configured_date`.
    pub fn new(time_zone: Tz, configured_date: Option<NaiveDate>, allow_override: bool) -> Self {
        BusinessClock {
            time_zone,
            configured_date,
            allow_override,
        }
    }

    /// IANA name of the time zone.
    pub fn time_zone_name(&self) -> &'static str {
        self.time_zone.name()
    }

    /// True when SetBusinessDate may fix the date.
    pub fn allows_override(&self) -> bool {
        self.allow_override
    }

    /// Returns the business date, given the override stored in the database.
    /// The override is ignored unless overrides are allowed.
    pub fn resolve(&self, stored_override: Option<NaiveDate>) -> BusinessDate {
        if self.allow_override
            && let Some(date) = stored_override
        {
            return BusinessDate { date, fixed: true };
        }
        if let Some(date) = self.configured_date {
            return BusinessDate { date, fixed: true };
        }
        BusinessDate {
            date: Utc::now().with_timezone(&self.time_zone).date_naive(),
            fixed: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn override_wins_when_allowed() {
        let clock = BusinessClock::new(chrono_tz::Asia::Shanghai, Some(date("2025-01-01")), true);
        let resolved = clock.resolve(Some(date("2025-02-22")));
        assert_eq!(
            resolved,
            BusinessDate {
                date: date("2025-02-22"),
                fixed: true
            }
        );
    }

    #[test]
    fn override_ignored_when_not_allowed() {
        let clock = BusinessClock::new(chrono_tz::Asia::Shanghai, Some(date("2025-01-01")), false);
        assert_eq!(clock.resolve(Some(date("2025-02-22"))).date, date("2025-01-01"));
    }

    #[test]
    fn calendar_date_in_time_zone() {
        let clock = BusinessClock::new(chrono_tz::Asia::Shanghai, None, false);
        let expected = Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
        let resolved = clock.resolve(None);
        assert!(!resolved.fixed);
        // The date can roll over between the two reads only at midnight.
        assert!((resolved.date - expected).num_days().abs() <= 1);
    }
}
