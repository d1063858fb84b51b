//! `mqctl`: the broker's command-line tool. Sends, consumes, benchmarks and
//! looks things up; every result is printed as JSON lines for scripts.
//! Broker address from `--addr` / `MQ_ADDR`, admin API from `--admin` /
//! `MQ_ADMIN_ADDR`.

mod admin;
mod bench;
mod consume;
mod send;
mod txn_responder;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "mqctl",
    about = "Command-line tool for the mq broker (JSON lines output)"
)]
struct Cli {
    /// Broker address.
    #[arg(long, env = "MQ_ADDR", default_value = "127.0.0.1:9876", global = true)]
    addr: String,
    /// Admin API address.
    #[arg(
        long,
        env = "MQ_ADMIN_ADDR",
        default_value = "127.0.0.1:9877",
        global = true
    )]
    admin: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send messages; one line per acknowledged message.
    Send(send::SendArgs),
    /// Consume in a group; one line per delivered message.
    Consume(consume::ConsumeArgs),
    /// Answer transaction check-backs for a producer group; one line per answer.
    TxnResponder(txn_responder::TxnResponderArgs),
    /// Pending delayed messages.
    Delayed,
    /// Pending half (transactional) messages, with age and check-backs.
    Transactions,
    /// Measure publish and publish→consume→ack throughput and latency.
    Bench(bench::BenchArgs),
    /// List topics with their queues and offsets.
    Topics,
    /// Show one message by id.
    Message { id: String },
    /// List a group's dead letters.
    Dlq { group: String },
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Send(a) => send::run(&cli.addr, a).await,
        Command::Consume(a) => consume::run(&cli.addr, a).await,
        Command::Bench(a) => bench::run(&cli.addr, a).await,
        Command::TxnResponder(a) => txn_responder::run(&cli.addr, a).await,
        Command::Delayed => admin::get(&cli.admin, "/delayed", None).await,
        Command::Transactions => admin::get(&cli.admin, "/transactions", None).await,
        Command::Topics => admin::get(&cli.admin, "/topics", Some("topics")).await,
        Command::Message { id } => admin::get(&cli.admin, &format!("/messages/{id}"), None).await,
        Command::Dlq { group } => admin::get(&cli.admin, &format!("/dlq/{group}"), Some("")).await,
    };
    if let Err(e) = result {
        eprintln!("{}", serde_json::json!({ "error": format!("{e:#}") }));
        std::process::exit(1);
    }
}
