//! What the benchmark binaries share: latency statistics and their format.

pub mod stats {
    use std::time::Duration;

    /// The `q` quantile (nearest rank) of sorted latencies; zero for none.
    pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    pub fn median(mut v: Vec<Duration>) -> Duration {
        v.sort();
        v[v.len() / 2]
    }

    /// Milliseconds, two decimals.
    pub fn ms(d: Duration) -> String {
        format!("{:.2}", d.as_secs_f64() * 1000.0)
    }
}
