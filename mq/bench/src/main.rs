//! `mq-bench` binary: parses arguments, runs every target, prints JSON lines as results
//! arrive and a table at the end.

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let args = mq_bench::Args::parse();
    let summary = mq_bench::run(args).await?;
    println!();
    print!("{summary}");
    Ok(())
}
