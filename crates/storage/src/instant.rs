//! The stored text form of instants, the same on both backends.

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats an instant the way every instant is stored: RFC 3339 in UTC with
/// microseconds, so text order is time order.
pub fn format_instant(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses an instant stored by [`format_instant`].
pub fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|instant| instant.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip_in_text_order() {
        let earlier = DateTime::parse_from_rfc3339("2025-02-22T01:02:03.000004Z")
            .unwrap()
            .with_timezone(&Utc);
        let later = earlier + chrono::Duration::microseconds(1);
        assert_eq!(parse_instant(&format_instant(earlier)), Some(earlier));
        assert!(format_instant(earlier) < format_instant(later));
    }
}
