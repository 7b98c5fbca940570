//! Latency histograms and the tallies of one measured phase.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use rust_decimal::Decimal;

use crate::flow::{FlowOutcome, STEPS, Step};

/// Largest latency a histogram records, in microseconds: one minute, more
/// than any request timeout of the services. Larger values are clamped.
const MAX_LATENCY_MICROS: u64 = 60_000_000;
/// Significant decimal digits the histograms keep: values are exact to
/// 0.1 %.
const SIGNIFICANT_DIGITS: u8 = 3;

/// The quantiles the report shows.
pub const QUANTILES: [Quantile; 3] = [
    Quantile {
        label: "p50",
        value: 0.5,
    },
    Quantile {
        label: "p99",
        value: 0.99,
    },
    Quantile {
        label: "p99.9",
        value: 0.999,
    },
];

/// A quantile and its label in the report.
#[derive(Debug, Clone, Copy)]
pub struct Quantile {
    pub label: &'static str,
    pub value: f64,
}

/// A latency histogram with microsecond resolution, from 1 µs to one
/// minute.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    histogram: Histogram<u64>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram::new()
    }
}

impl LatencyHistogram {
    pub fn new() -> Self {
        let histogram = Histogram::new_with_bounds(1, MAX_LATENCY_MICROS, SIGNIFICANT_DIGITS)
            .expect("the bounds and precision are valid constants");
        LatencyHistogram { histogram }
    }

    /// Records one latency, clamped to the histogram's range.
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_LATENCY_MICROS);
        self.histogram.saturating_record(micros);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        self.histogram
            .add(&other.histogram)
            .expect("histograms with the same bounds always merge");
    }

    /// Returns the number of recorded values.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// Returns the latency at `quantile` (0 to 1), or zero when empty.
    pub fn quantile(&self, quantile: f64) -> Duration {
        Duration::from_micros(self.histogram.value_at_quantile(quantile))
    }

    /// Returns the largest recorded latency, or zero when empty.
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.histogram.max())
    }
}

/// Everything recorded about the flows of one phase.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Flows that ended with a payout.
    pub completed: u64,
    /// Flows that failed at some step.
    pub failed: u64,
    /// Open-loop flows not started because too many were in flight.
    pub skipped: u64,
    /// Latency of each complete flow, from its (scheduled) start to the
    /// payout.
    pub flow: LatencyHistogram,
    /// Latency of each successful call, by step.
    pub steps: BTreeMap<Step, LatencyHistogram>,
    /// Failed flows by the step that failed and the ErrorInfo reason (or
    /// the status code when the status carries none).
    pub errors: BTreeMap<(Step, String), u64>,
    /// Sum of the payouts (principal plus interest) of complete flows, in
    /// CNY.
    pub paid_out: Decimal,
    /// Sum of the interest the customers lost by withdrawing early, in CNY.
    pub interest_lost: Decimal,
}

impl Tally {
    /// Records one finished flow.
    pub fn record(&mut self, outcome: &FlowOutcome) {
        for step in STEPS {
            if let Some(latency) = outcome.step_latency(step) {
                self.steps.entry(step).or_default().record(latency);
            }
        }
        match &outcome.result {
            Ok(payout) => {
                self.completed += 1;
                self.flow.record(outcome.latency);
                self.paid_out += payout.total;
                self.interest_lost += payout.interest_lost;
            }
            Err(error) => {
                self.failed += 1;
                *self.errors.entry((error.step, error.reason.clone())).or_default() += 1;
            }
        }
    }

    /// Returns the latency histogram of `step`, empty when no call of it
    /// succeeded.
    pub fn step(&self, step: Step) -> LatencyHistogram {
        self.steps.get(&step).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_within_precision() {
        let mut histogram = LatencyHistogram::new();
        for millis in 1..=1000 {
            histogram.record(Duration::from_millis(millis));
        }
        assert_eq!(histogram.count(), 1000);
        let p50 = histogram.quantile(0.5).as_micros();
        assert!((499_500..=500_500).contains(&p50), "p50 {p50} µs");
        let p99 = histogram.quantile(0.99).as_micros();
        assert!((989_000..=991_000).contains(&p99), "p99 {p99} µs");
        let max = histogram.max().as_micros();
        assert!((999_000..=1_001_000).contains(&max), "max {max} µs");
    }

    #[test]
    fn histogram_clamps_out_of_range() {
        let mut histogram = LatencyHistogram::new();
        histogram.record(Duration::ZERO);
        histogram.record(Duration::from_secs(3600));
        assert_eq!(histogram.count(), 2);
        assert!(histogram.max() <= Duration::from_secs(61));
    }

    #[test]
    fn histogram_merge_adds_counts() {
        let mut first = LatencyHistogram::new();
        first.record(Duration::from_millis(1));
        let mut second = LatencyHistogram::new();
        second.record(Duration::from_millis(2));
        second.record(Duration::from_millis(3));
        first.merge(&second);
        assert_eq!(first.count(), 3);
    }

    #[test]
    fn empty_histogram_reads_zero() {
        let histogram = LatencyHistogram::new();
        assert_eq!(histogram.count(), 0);
        assert_eq!(histogram.quantile(0.99), Duration::ZERO);
    }
}
