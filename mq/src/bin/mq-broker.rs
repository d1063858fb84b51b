//! `mq-broker`: runs the broker with settings from the environment
//! (`MQ_LISTEN`, `MQ_ADMIN_LISTEN`, `MQ_DATA_DIR`, `MQ_RETRY_SCHEDULE`, …; see
//! `mq::config`) until SIGTERM or ctrl-c, then shuts down gracefully.

use anyhow::Context;
use mq::{Broker, BrokerConfig};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = BrokerConfig::from_env().context("reading MQ_* settings")?;
    let broker = match Broker::start(config).await {
        Ok(b) => b,
        Err(e @ mq::Error::UntrustedDataDir(_)) => {
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
