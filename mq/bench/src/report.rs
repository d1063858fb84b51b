//! Results: one JSON line per (target, publisher count) as soon as it is measured, and a
//! table of all of them at the end.

use std::fmt::Write as _;

use serde::Serialize;

use crate::measure::{Latency, PipelineOutcome, PublishOutcome};
use crate::target::StorageActivity;

/// Everything measured for one target at one publisher count.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub target: String,
    /// How the target was configured to store messages before acknowledging them.
    pub durability: String,
    pub publishers: usize,
    pub messages: u64,
    pub size: usize,
    /// Durable publish throughput, messages per second.
    pub publish_per_sec: Option<f64>,
    /// Send latency (send → acknowledgement) during the publish phase.
    pub publish_latency: Option<Latency>,
    /// The broker's fsyncs and group commits during the publish phase, where it tells.
    pub publish_storage: Option<StorageActivity>,
    /// Produce → consume → ack throughput, messages per second.
    pub pipeline_per_sec: Option<f64>,
    /// Send latency while the consumer was running too.
    pub pipeline_publish_latency: Option<Latency>,
    /// Why a phase could not be measured.
    pub error: Option<String>,
}

impl Row {
    pub fn new(
        target: &str,
        durability: &str,
        publishers: usize,
        messages: u64,
        size: usize,
    ) -> Self {
        Self {
            target: target.to_owned(),
            durability: durability.to_owned(),
            publishers,
            messages,
            size,
            publish_per_sec: None,
            publish_latency: None,
            publish_storage: None,
            pipeline_per_sec: None,
            pipeline_publish_latency: None,
            error: None,
        }
    }

    pub fn record_publish(&mut self, outcome: PublishOutcome) {
        self.publish_per_sec = Some(rate(self.messages, outcome.elapsed.as_secs_f64()));
        self.publish_latency = Some(outcome.latency);
    }

    pub fn record_pipeline(&mut self, outcome: PipelineOutcome) {
        self.pipeline_per_sec = Some(rate(self.messages, outcome.elapsed.as_secs_f64()));
        self.pipeline_publish_latency = Some(outcome.latency);
    }

    pub fn record_error(&mut self, phase: &str, error: &anyhow::Error) {
        let message = format!("{phase}: {error:#}");
        self.error = Some(match self.error.take() {
            Some(earlier) => format!("{earlier}; {message}"),
            None => message,
        });
    }

    pub fn json_line(&self) -> String {
        serde_json::to_string(self).expect("a row always serializes")
    }
}

fn rate(messages: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        messages as f64 / seconds
    } else {
        0.0
    }
}

/// The rows as an aligned text table, durability notes and errors listed below it.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:>4} {:>11} {:>8} {:>8} {:>8} {:>12} {:>8}",
        "target", "pubs", "publish/s", "p50 ms", "p99 ms", "max ms", "pipeline/s", "p99 ms"
    );
    for row in rows {
        let latency = row.publish_latency;
        let _ = writeln!(
            out,
            "{:<16} {:>4} {:>11} {:>8} {:>8} {:>8} {:>12} {:>8}",
            row.target,
            row.publishers,
            per_sec(row.publish_per_sec),
            ms(latency.map(|l| l.p50_us)),
            ms(latency.map(|l| l.p99_us)),
            ms(latency.map(|l| l.max_us)),
            per_sec(row.pipeline_per_sec),
            ms(row.pipeline_publish_latency.map(|l| l.p99_us)),
        );
    }
    let _ = writeln!(
        out,
        "\n(p50/p99/max: send → ack latency in the publish phase; last p99: send latency \
         while the consumer runs too)"
    );
    for row in rows {
        if let Some(s) = row.publish_storage {
            let _ = writeln!(
                out,
                "{:<16} {:>4} pubs: {:.0} fsyncs/s (mean {:.2} ms), {:.1} messages per group commit",
                row.target, row.publishers, s.fsyncs_per_sec, s.mean_fsync_ms, s.records_per_commit
            );
        }
    }
    let mut seen = Vec::new();
    for row in rows {
        if !seen.contains(&row.target) {
            seen.push(row.target.clone());
            let _ = writeln!(out, "{:<16} {}", row.target, row.durability);
        }
    }
    for row in rows.iter().filter(|r| r.error.is_some()) {
        let _ = writeln!(
            out,
            "error {} x{}: {}",
            row.target,
            row.publishers,
            row.error.as_deref().unwrap_or_default()
        );
    }
    out
}

fn per_sec(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"))
}

fn ms(micros: Option<u64>) -> String {
    micros.map_or_else(|| "-".to_owned(), |us| format!("{:.2}", us as f64 / 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn table_shows_rates_latencies_and_errors() {
        let mut ok = Row::new("rabbit-quorum", "quorum queue", 16, 1000, 1024);
        ok.record_publish(PublishOutcome {
            elapsed: Duration::from_millis(500),
            latency: Latency {
                p50_us: 1500,
                p99_us: 6000,
                max_us: 9000,
            },
        });
        let mut failed = Row::new("mq", "fsync per ack", 16, 1000, 1024);
        failed.record_error("publish", &anyhow::anyhow!("connection refused"));

        let text = table(&[ok, failed]);

        assert!(text.contains("rabbit-quorum      16        2000     1.50     6.00     9.00"));
        assert!(text.contains("error mq x16: publish: connection refused"));
    }
}
