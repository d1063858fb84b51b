//! Broker settings, read from the environment (names listed in docs/operations.md,
//! "Settings") or built in code for tests. Durations are written like `30m`, `5s`,
//! `1500ms`.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::storage::{FlushMode, StoreConfig};

/// Every setting of the broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Client protocol address (`MQ_LISTEN`).
    pub listen: String,
    /// Admin HTTP address (`MQ_ADMIN_LISTEN`).
    pub admin_listen: String,
    pub data_dir: PathBuf,
    /// Delay before each redelivery (`MQ_RETRY_SCHEDULE`); its length is the
    /// number of retries before the dead letter queue.
    pub retry_schedule: Vec<Duration>,
    pub segment_size: u64,
    pub flush: FlushMode,
    pub retention: Duration,
    pub retention_check_interval: Duration,
    pub max_connections: usize,
    pub max_frame: usize,
    /// A delivery not answered within this time is retried.
    pub visibility_timeout: Duration,
    pub default_queues: u32,
    pub offset_flush_interval: Duration,
    /// `MQ_RECOVERY=truncate`: see [`StoreConfig::cut_damaged_tail`].
    pub cut_damaged_tail: bool,
    /// Delay of each delay level, level 1 first (`MQ_DELAY_LEVELS`).
    pub delay_levels: Vec<Duration>,
    /// A half message undecided this long is checked back (`MQ_TXN_CHECK_AFTER`).
    pub txn_check_after: Duration,
    /// Time between check-backs of one half message (`MQ_TXN_CHECK_INTERVAL`).
    pub txn_check_interval: Duration,
    /// Check-backs before an undecided half message is discarded (`MQ_TXN_CHECK_MAX`).
    pub txn_check_max: u32,
    /// A connection that sends no first frame within this is closed
    /// (`MQ_HANDSHAKE_TIMEOUT`).
    pub handshake_timeout: Duration,
    /// A connection without subscriptions or a producer group that sends
    /// nothing for this long is closed (`MQ_IDLE_TIMEOUT`).
    pub idle_timeout: Duration,
    /// Bytes a connection may have queued for the client to read before the
    /// broker stops reading its requests and handing it deliveries; also
    /// the bytes its requests in flight may hold (`MQ_CONNECTION_BUFFER`).
    pub connection_buffer: usize,
    /// A broadcast member (`group@instance`) with no live connection for
    /// this long is forgotten: its offsets are deleted
    /// (`MQ_BROADCAST_FORGET_AFTER`).
    pub broadcast_forget_after: Duration,
    /// Testing only (`MQ_FAULT_FILE`): while this file holds `write` or
    /// `sync`, the log's writes or fsyncs fail (see `storage::faults`).
    pub fault_file: Option<PathBuf>,
}

/// The default delay levels (RocketMQ's, 18 levels; level 16 is 30 minutes).
pub const DEFAULT_DELAY_LEVELS: &str = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";

/// The default retry schedule (RocketMQ's, 16 steps).
pub const DEFAULT_RETRY_SCHEDULE: &str = "10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";

impl BrokerConfig {
    /// Defaults, storing in `data_dir`, listening on the given addresses.
    pub fn new(data_dir: impl Into<PathBuf>) -> BrokerConfig {
        BrokerConfig {
            listen: "0.0.0.0:9876".into(),
            admin_listen: "0.0.0.0:9877".into(),
            data_dir: data_dir.into(),
            retry_schedule: parse_schedule(DEFAULT_RETRY_SCHEDULE).unwrap_or_default(),
            segment_size: 64 * 1024 * 1024,
            flush: FlushMode::Sync,
            retention: Duration::from_secs(72 * 3600),
            retention_check_interval: Duration::from_secs(60),
            max_connections: 1024,
            max_frame: crate::protocol::DEFAULT_MAX_FRAME,
            visibility_timeout: Duration::from_secs(30),
            default_queues: 4,
            offset_flush_interval: Duration::from_millis(200),
            cut_damaged_tail: false,
            delay_levels: parse_schedule(DEFAULT_DELAY_LEVELS).unwrap_or_default(),
            txn_check_after: Duration::from_secs(6),
            txn_check_interval: Duration::from_secs(30),
            txn_check_max: 15,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            connection_buffer: 16 << 20,
            broadcast_forget_after: Duration::from_secs(7 * 24 * 3600),
            fault_file: None,
        }
    }

    /// Settings for tests: loopback, ephemeral ports, a short retry schedule.
    pub fn for_tests(data_dir: impl Into<PathBuf>) -> BrokerConfig {
        BrokerConfig {
            listen: "127.0.0.1:0".into(),
            admin_listen: "127.0.0.1:0".into(),
            retry_schedule: vec![Duration::from_millis(200); 2],
            visibility_timeout: Duration::from_secs(5),
            ..BrokerConfig::new(data_dir)
        }
    }

    /// Reads every `MQ_*` setting, falling back to the defaults.
    pub fn from_env() -> Result<BrokerConfig> {
        let mut c = BrokerConfig::new(var("MQ_DATA_DIR").unwrap_or_else(|| "./data/mq".into()));
        if let Some(v) = var("MQ_LISTEN") {
            c.listen = v;
        }
        if let Some(v) = var("MQ_ADMIN_LISTEN") {
            c.admin_listen = v;
        }
        if let Some(v) = var("MQ_RETRY_SCHEDULE") {
            c.retry_schedule = parse_schedule(&v)?;
        }
        if let Some(v) = var("MQ_DELAY_LEVELS") {
            c.delay_levels = parse_schedule(&v)?;
        }
        if let Some(v) = var("MQ_TXN_CHECK_AFTER") {
            c.txn_check_after = parse_duration(&v)?;
        }
        if let Some(v) = var("MQ_TXN_CHECK_INTERVAL") {
            c.txn_check_interval = parse_duration(&v)?;
        }
        if let Some(v) = var("MQ_TXN_CHECK_MAX") {
            c.txn_check_max = parse_num(&v, "MQ_TXN_CHECK_MAX")?;
        }
        if let Some(v) = var("MQ_SEGMENT_SIZE") {
            c.segment_size = parse_size(&v)?;
        }
        if let Some(v) = var("MQ_FLUSH") {
            let interval = match var("MQ_ASYNC_FLUSH_INTERVAL") {
                Some(i) => parse_duration(&i)?,
                None => Duration::from_millis(500),
            };
            c.flush = match v.as_str() {
                "sync" => FlushMode::Sync,
                "async" => FlushMode::Async { interval },
                _ => return Err(Error::Invalid(format!("MQ_FLUSH={v}: use sync or async"))),
            };
        }
        if let Some(v) = var("MQ_RETENTION") {
            c.retention = parse_duration(&v)?;
        }
        if let Some(v) = var("MQ_RETENTION_CHECK_INTERVAL") {
            c.retention_check_interval = parse_duration(&v)?;
        }
        if let Some(v) = var("MQ_MAX_CONNECTIONS") {
            c.max_connections = parse_num(&v, "MQ_MAX_CONNECTIONS")?;
        }
        if let Some(v) = var("MQ_MAX_FRAME") {
            c.max_frame = parse_size(&v)? as usize;
        }
        if let Some(v) = var("MQ_VISIBILITY_TIMEOUT") {
            c.visibility_timeout = parse_duration(&v)?;
        }
        if let Some(v) = var("MQ_DEFAULT_QUEUES") {
            c.default_queues = parse_num(&v, "MQ_DEFAULT_QUEUES")?;
        }
        if let Some(v) = var("MQ_OFFSET_FLUSH_INTERVAL") {
            c.offset_flush_interval = parse_duration(&v)?;
        }
        if let Some(v) = var("MQ_HANDSHAKE_TIMEOUT") {
            c.handshake_timeout = parse_duration(&v)?;
        }
        if let Some(v) = var("MQ_IDLE_TIMEOUT") {
            c.idle_timeout = parse_duration(&v)?;
        }
        if let Some(v) = var("MQ_CONNECTION_BUFFER") {
            c.connection_buffer = parse_size(&v)? as usize;
        }
        if let Some(v) = var("MQ_BROADCAST_FORGET_AFTER") {
            c.broadcast_forget_after = parse_duration(&v)?;
        }
        if let Some(v) = var("MQ_FAULT_FILE") {
            c.fault_file = Some(v.into());
        }
        if let Some(v) = var("MQ_RECOVERY") {
            c.cut_damaged_tail = match v.as_str() {
                "truncate" => true,
                "strict" => false,
                _ => {
                    return Err(Error::Invalid(format!(
                        "MQ_RECOVERY={v}: use strict or truncate"
                    )));
                }
            };
        }
        Ok(c)
    }

    /// Refuses settings that would lose messages: a retention shorter than
    /// the longest retry delay deletes retry copies before they are due.
    pub fn validate(&self) -> Result<()> {
        if let Some(longest) = self.retry_schedule.iter().max() {
            if self.retention <= *longest {
                return Err(Error::Invalid(format!(
                    "MQ_RETENTION={} is not longer than the longest retry delay {} of \
                     MQ_RETRY_SCHEDULE: retry copies would be deleted before they are due",
                    humantime::format_duration(self.retention),
                    humantime::format_duration(*longest)
                )));
            }
        }
        Ok(())
    }

    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            dir: self.data_dir.clone(),
            segment_size: self.segment_size,
            flush: self.flush,
            retention: self.retention,
            default_queues: self.default_queues,
            // One queue per retry step, plus one for immediate resends.
            retry_levels: self.retry_schedule.len() as u32 + 1,
            cut_damaged_tail: self.cut_damaged_tail,
            fault_file: self.fault_file.clone(),
        }
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse_num<T: std::str::FromStr>(v: &str, name: &str) -> Result<T> {
    v.trim()
        .parse()
        .map_err(|_| Error::Invalid(format!("{name}={v}: not a number")))
}

/// Parses `30m`, `5s`, `1500ms`.
pub fn parse_duration(v: &str) -> Result<Duration> {
    humantime::parse_duration(v.trim())
        .map_err(|e| Error::Invalid(format!("bad duration {v:?}: {e}")))
}

/// Parses a space-separated list of durations.
pub fn parse_schedule(v: &str) -> Result<Vec<Duration>> {
    let steps: Vec<Duration> = v
        .split_whitespace()
        .map(parse_duration)
        .collect::<Result<_>>()?;
    if steps.is_empty() {
        return Err(Error::Invalid("empty schedule".into()));
    }
    Ok(steps)
}

/// Parses a byte size: `67108864`, `64MiB`, `512KiB`, `1GiB`.
pub fn parse_size(v: &str) -> Result<u64> {
    let v = v.trim();
    let (num, mult) = [
        ("GiB", 1u64 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
        ("B", 1),
    ]
    .iter()
    .find_map(|(suffix, m)| v.strip_suffix(suffix).map(|n| (n.trim(), *m)))
    .unwrap_or((v, 1));
    num.parse::<u64>()
        .map(|n| n * mult)
        .map_err(|_| Error::Invalid(format!("bad size {v:?}: use e.g. 64MiB")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_sizes_and_schedules_parse() {
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_schedule(DEFAULT_RETRY_SCHEDULE).unwrap().len(), 16);
        let levels = parse_schedule(DEFAULT_DELAY_LEVELS).unwrap();
        assert_eq!(levels.len(), 18);
        assert_eq!(levels[15], Duration::from_secs(30 * 60));
        assert!(parse_schedule("").is_err());
    }

    #[test]
    fn a_retention_not_longer_than_the_retry_schedule_is_refused() {
        let mut c = BrokerConfig::new("/tmp/x");
        c.retention = Duration::from_secs(3600);
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("MQ_RETENTION=1h"), "{err}");
        c.retention = Duration::from_secs(3 * 3600);
        c.validate().unwrap();
    }
}
