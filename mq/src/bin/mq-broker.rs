//! `mq-broker`: runs the broker with settings from the environment
//! (`MQ_LISTEN`, `MQ_ADMIN_LISTEN`, `MQ_DATA_DIR`, `MQ_RETRY_SCHEDULE`, …; see
//! `mq::config`) until SIGTERM or ctrl-c, then shuts down gracefully.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    mq::process::run_from_env().await
}
