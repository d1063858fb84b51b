//! The two timed phases, generic over [`Target`], so every broker runs the same loop.
//!
//! - Publish: P publishers, each with its own connection, send their share of N
//!   messages; each waits for the acknowledgement of one message before sending the
//!   next, and times every send. Throughput is N over the time from the first send to
//!   the last acknowledgement.
//! - Pipeline (produce → consume → ack): a consumer subscribes first, then the same P
//!   publishers send N messages; the clock stops when the consumer has acknowledged N.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use tokio::task::JoinSet;

use crate::target::{Consumer, Progress, Publisher, Target};

/// What one measurement does.
#[derive(Debug, Clone)]
pub struct Plan {
    pub publishers: usize,
    pub messages: u64,
    pub size: usize,
    /// Longest a single send may wait for its acknowledgement.
    pub send_timeout: Duration,
    /// Longest a whole phase may take.
    pub phase_timeout: Duration,
}

/// Send latencies of a phase, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Latency {
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl Latency {
    /// Nearest-rank percentiles of the given samples (microseconds); zeros when empty.
    pub fn from_samples(mut samples: Vec<u64>) -> Self {
        if samples.is_empty() {
            return Self {
                p50_us: 0,
                p99_us: 0,
                max_us: 0,
            };
        }
        samples.sort_unstable();
        let rank = |p: f64| {
            let idx = ((p / 100.0) * samples.len() as f64).ceil() as usize;
            samples[idx.clamp(1, samples.len()) - 1]
        };
        Self {
            p50_us: rank(50.0),
            p99_us: rank(99.0),
            max_us: samples[samples.len() - 1],
        }
    }
}

/// Outcome of a publish phase.
#[derive(Debug, Clone, Copy)]
pub struct PublishOutcome {
    pub elapsed: Duration,
    pub latency: Latency,
}

/// Outcome of a produce → consume → ack phase.
#[derive(Debug, Clone, Copy)]
pub struct PipelineOutcome {
    pub elapsed: Duration,
    /// When the last publisher had its last acknowledgement.
    pub published_after: Duration,
    pub latency: Latency,
}

/// How many of `messages` publisher `index` of `publishers` sends: an even split, the
/// remainder going to the first ones.
pub fn share(messages: u64, publishers: usize, index: usize) -> u64 {
    let p = publishers as u64;
    messages / p + u64::from((index as u64) < messages % p)
}

/// A body of `size` bytes that no broker could compress to nothing.
pub fn body(size: usize) -> Bytes {
    let mut state: u32 = 0x9e37_79b9;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            b'a' + (state % 26) as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

/// Sends `count` messages of `body` through `target` from one publisher, untimed, so
/// that connections, JIT-less caches and files exist before the first measurement.
pub async fn warm_up<T: Target>(target: &T, plan: &Plan, count: u64) -> anyhow::Result<()> {
    let mut publisher = tokio::time::timeout(plan.send_timeout, target.publisher())
        .await
        .context("connecting the warm-up publisher timed out")?
        .context("connect warm-up publisher")?;
    let body = body(plan.size);
    for _ in 0..count {
        tokio::time::timeout(plan.send_timeout, publisher.send(body.clone()))
            .await
            .context("warm-up send timed out")??;
    }
    Ok(())
}

/// Runs the publish phase; the target must have been reset for this run.
pub async fn publish<T: Target>(target: &T, plan: &Plan) -> anyhow::Result<PublishOutcome> {
    let publishers = connect_publishers(target, plan).await?;
    let start = Instant::now();
    let senders = spawn_publishers(publishers, plan);
    let samples = tokio::time::timeout(plan.phase_timeout, join_publishers(senders))
        .await
        .context("publish phase timed out")??;
    Ok(PublishOutcome {
        elapsed: start.elapsed(),
        latency: Latency::from_samples(samples),
    })
}

/// Runs the produce → consume → ack phase; the target must have been reset for this run.
pub async fn pipeline<T: Target>(target: &T, plan: &Plan) -> anyhow::Result<PipelineOutcome> {
    let progress = Arc::new(Progress::new(plan.messages));
    let consumer = tokio::time::timeout(plan.send_timeout, target.consumer(progress.clone()))
        .await
        .context("connecting the consumer timed out")?
        .context("connect consumer")?;
    let publishers = connect_publishers(target, plan).await?;

    let start = Instant::now();
    let mut consuming = tokio::spawn(consumer.run());
    let publishing = join_publishers(spawn_publishers(publishers, plan));
    let run = async {
        tokio::pin!(publishing);
        let mut published: Option<(Vec<u64>, Duration)> = None;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut last = (0, Instant::now());
        let consumed_after = loop {
            tokio::select! {
                _ = tick.tick() => {
                    // A consumer that stops receiving would otherwise hold the run until the
                    // phase timeout.
                    let acked = progress.get();
                    if acked != last.0 {
                        last = (acked, Instant::now());
                    } else if published.is_some() && last.1.elapsed() > plan.send_timeout {
                        bail!(
                            "consumer stalled at {acked} of {} messages for {:?} after all were sent",
                            plan.messages,
                            plan.send_timeout
                        );
                    }
                }
                samples = &mut publishing, if published.is_none() => {
                    published = Some((samples?, start.elapsed()));
                }
                () = progress.completed() => break start.elapsed(),
                ended = &mut consuming => {
                    ended.context("consumer task panicked")??;
                    // A consumer returns once the goal is reached, and only then.
                    anyhow::ensure!(
                        progress.is_complete(),
                        "consumer stopped after {} messages",
                        progress.get()
                    );
                    break start.elapsed();
                }
            }
        };
        // Every message was consumed, so every one was sent; the last acks may still be
        // on their way.
        let (samples, published_after) = match published {
            Some(done) => done,
            None => (publishing.await?, start.elapsed()),
        };
        anyhow::Ok(PipelineOutcome {
            elapsed: consumed_after,
            published_after,
            latency: Latency::from_samples(samples),
        })
    };
    let outcome = tokio::time::timeout(plan.phase_timeout, run).await;
    if !consuming.is_finished() {
        // Give the consumer a moment to send its last acks and close, then drop it.
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut consuming).await;
        consuming.abort();
    }
    match outcome {
        Ok(result) => result,
        Err(_) => bail!(
            "pipeline phase timed out after {:?} with {} of {} messages acknowledged",
            plan.phase_timeout,
            progress.get(),
            plan.messages
        ),
    }
}

async fn connect_publishers<T: Target>(
    target: &T,
    plan: &Plan,
) -> anyhow::Result<Vec<T::Publisher>> {
    let connecting = (0..plan.publishers).map(|_| target.publisher());
    tokio::time::timeout(plan.send_timeout, futures::future::try_join_all(connecting))
        .await
        .context("connecting the publishers timed out")?
        .context("connect publishers")
}

fn spawn_publishers<P: Publisher>(
    publishers: Vec<P>,
    plan: &Plan,
) -> JoinSet<anyhow::Result<Vec<u64>>> {
    let body = body(plan.size);
    let mut set = JoinSet::new();
    let count = publishers.len();
    for (index, mut publisher) in publishers.into_iter().enumerate() {
        let n = share(plan.messages, count, index);
        let body = body.clone();
        let send_timeout = plan.send_timeout;
        set.spawn(async move {
            let mut samples = Vec::with_capacity(n as usize);
            for i in 0..n {
                let sent = Instant::now();
                tokio::time::timeout(send_timeout, publisher.send(body.clone()))
                    .await
                    .with_context(|| format!("send {i} of publisher {index} timed out"))?
                    .with_context(|| format!("send {i} of publisher {index} failed"))?;
                samples.push(sent.elapsed().as_micros() as u64);
            }
            Ok(samples)
        });
    }
    set
}

async fn join_publishers(mut set: JoinSet<anyhow::Result<Vec<u64>>>) -> anyhow::Result<Vec<u64>> {
    let mut all = Vec::new();
    while let Some(joined) = set.join_next().await {
        // Dropping the set on error aborts the other publishers.
        all.extend(joined.context("publisher task panicked")??);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_all_messages() {
        for (n, p) in [(100_000, 64), (10, 16), (7, 3), (0, 4), (1, 1)] {
            let total: u64 = (0..p).map(|i| share(n, p, i)).sum();
            assert_eq!(total, n, "n={n} p={p}");
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<u64> = (1..=100).collect();
        let latency = Latency::from_samples(samples);
        assert_eq!(
            latency,
            Latency {
                p50_us: 50,
                p99_us: 99,
                max_us: 100
            }
        );
    }

    #[test]
    fn percentiles_of_one_sample_are_that_sample() {
        let latency = Latency::from_samples(vec![7]);
        assert_eq!((latency.p50_us, latency.p99_us, latency.max_us), (7, 7, 7));
    }

    #[test]
    fn body_has_the_requested_size() {
        assert_eq!(body(1024).len(), 1024);
    }
}
