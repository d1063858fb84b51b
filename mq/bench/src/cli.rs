//! Command-line settings of `mq-bench`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// The systems `mq-bench` can measure, each configured one way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetName {
    /// Shop's broker, `mq-broker` started with fsync before every acknowledgement.
    Mq,
    /// Shop's broker, `mq-broker` started in its asynchronous-flush mode.
    MqAsync,
    /// NATS JetStream at `--jetstream-url`, file stream, server defaults.
    Jetstream,
    /// NATS JetStream with `sync_interval: always` (started from `--nats-server-bin`).
    JetstreamSync,
    /// NATS JetStream from `--nats-server-bin` with defaults (same version as
    /// jetstream-sync, to isolate the effect of the setting).
    JetstreamNew,
    /// RabbitMQ classic durable queue, persistent messages, publisher confirms.
    RabbitClassic,
    /// RabbitMQ quorum queue, publisher confirms.
    RabbitQuorum,
}

impl TargetName {
    pub fn label(self) -> &'static str {
        match self {
            TargetName::Mq => "mq",
            TargetName::MqAsync => "mq-async",
            TargetName::Jetstream => "jetstream",
            TargetName::JetstreamSync => "jetstream-sync",
            TargetName::JetstreamNew => "jetstream-new",
            TargetName::RabbitClassic => "rabbit-classic",
            TargetName::RabbitQuorum => "rabbit-quorum",
        }
    }
}

/// Durable publish and produce→consume→ack throughput of Shop's broker against NATS
/// JetStream and RabbitMQ, on this machine, in one run.
#[derive(Debug, Clone, Parser)]
#[command(name = "mq-bench", version)]
pub struct Args {
    /// Publisher counts to measure, each publisher with its own connection.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub publishers: Vec<usize>,

    /// Messages per phase (split evenly among the publishers).
    #[arg(long, default_value_t = 20_000)]
    pub messages: u64,

    /// Body size in bytes.
    #[arg(long, default_value_t = 1024)]
    pub size: usize,

    /// Targets to measure, in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "mq,mq-async,jetstream,jetstream-sync,rabbit-classic,rabbit-quorum"
    )]
    pub targets: Vec<TargetName>,

    /// Untimed messages sent once per target before its first measurement.
    #[arg(long, default_value_t = 500)]
    pub warmup: u64,

    /// Longest wait for one acknowledgement.
    #[arg(long, value_parser = seconds, default_value = "30")]
    pub send_timeout: Duration,

    /// Longest one phase may take.
    #[arg(long, value_parser = seconds, default_value = "600")]
    pub phase_timeout: Duration,

    /// Use an `mq-broker` already running here instead of starting one (target `mq`).
    #[arg(long)]
    pub mq_addr: Option<SocketAddr>,

    /// Use an `mq-broker` already running here in async-flush mode (target `mq-async`).
    #[arg(long)]
    pub mq_async_addr: Option<SocketAddr>,

    /// The `mq-broker` binary to start (default: the one beside this executable).
    #[arg(long, env = "MQ_BENCH_BROKER")]
    pub mq_broker_bin: Option<PathBuf>,

    /// Extra environment (KEY=VALUE) for the fsync-per-ack `mq-broker`.
    #[arg(long = "mq-env", value_parser = key_value)]
    pub mq_env: Vec<(String, String)>,

    /// Environment (KEY=VALUE) that puts `mq-broker` in its async-flush mode.
    #[arg(long = "mq-async-env", value_parser = key_value, default_value = "MQ_FLUSH=async")]
    pub mq_async_env: Vec<(String, String)>,

    /// JetStream with the server's default durability (target `jetstream`).
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub jetstream_url: String,

    /// nats-server (≥ 2.10, which has `sync_interval`) to start for `jetstream-sync` and
    /// `jetstream-new`.
    #[arg(long, env = "MQ_BENCH_NATS_SERVER")]
    pub nats_server_bin: Option<PathBuf>,

    /// Where to start the `jetstream-sync` server.
    #[arg(long, default_value = "127.0.0.1:4223")]
    pub jetstream_sync_listen: SocketAddr,

    /// Where to start the `jetstream-new` server.
    #[arg(long, default_value = "127.0.0.1:4224")]
    pub jetstream_new_listen: SocketAddr,

    /// RabbitMQ (targets `rabbit-classic`, `rabbit-quorum`).
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    pub rabbit_uri: String,

    /// Parent of the data directories of the brokers this program starts (must be a
    /// real disk, not tmpfs, for fsync to mean anything).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    pub data_root: PathBuf,
}

fn seconds(text: &str) -> Result<Duration, String> {
    text.parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|e| format!("seconds expected: {e}"))
}

fn key_value(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("KEY=VALUE expected, got {text:?}"))?;
    Ok((key.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_measure_every_main_target_at_1_16_64() {
        let args = Args::parse_from(["mq-bench"]);
        assert_eq!(args.publishers, vec![1, 16, 64]);
        assert_eq!(args.size, 1024);
        assert_eq!(args.targets.len(), 6);
    }

    #[test]
    fn lists_and_environment_pairs_parse() {
        let args = Args::parse_from([
            "mq-bench",
            "--publishers",
            "4,8",
            "--targets",
            "rabbit-quorum,jetstream-sync",
            "--mq-async-env",
            "MQ_FLUSH=async",
        ]);
        assert_eq!(args.publishers, vec![4, 8]);
        assert_eq!(
            args.targets,
            vec![TargetName::RabbitQuorum, TargetName::JetstreamSync]
        );
        assert_eq!(
            args.mq_async_env,
            vec![("MQ_FLUSH".to_owned(), "async".to_owned())]
        );
    }
}
