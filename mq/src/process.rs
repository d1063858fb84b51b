//! The broker as a process: settings from the environment (`MQ_LISTEN`,
//! `MQ_ADMIN_LISTEN`, `MQ_DATA_DIR`, `MQ_RETRY_SCHEDULE`, …; see [`crate::config`]),
//! logs on stderr, the broker until SIGTERM or ctrl-c, then a graceful shutdown.
//! `mq-broker` is this function; `shop serve broker` runs the same.

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::{Broker, BrokerConfig};

/// Runs the broker from the environment until SIGTERM or ctrl-c. A data directory the
/// broker must not trust ends the process with exit code 2.
pub async fn run_from_env() -> anyhow::Result<()> {
    // A second subscriber (the caller set one up) is not worth stopping for.
    // Logs go to stderr: stdout carries the one line below, which scripts
    // and tests read first (an info line before it broke them).
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .try_init();
    let config = BrokerConfig::from_env().context("reading MQ_* settings")?;
    let broker = match Broker::start(config).await {
        Ok(b) => b,
        Err(e @ crate::Error::UntrustedDataDir(_)) => {
            eprintln!("mq-broker: {e}");
            std::process::exit(2);
        }
        Err(e) => return Err(e).context("starting the broker"),
    };
    // One line on stdout that scripts and tests can wait for.
    println!(
        "{}",
        serde_json::json!({ "listening": broker.addr.to_string(), "admin": broker.admin_addr.to_string() })
    );
    let token = broker.shutdown_token();
    tokio::select! {
        _ = shutdown_signal() => tracing::info!("shutdown requested by signal"),
        _ = token.cancelled() => {}
    }
    broker.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
