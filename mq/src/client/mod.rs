//! The client: [`Producer`] to send, [`TransactionProducer`] for
//! transactional messages, [`Consumer`] to consume in a group (clustering,
//! orderly or broadcasting), and [`ping`] as a cheap health probe. All
//! reconnect by themselves after the broker restarts.

mod conn;
mod consumer;
mod producer;
mod transaction;

use std::time::Duration;

pub use consumer::{ConsumeResult, Consumer, ConsumerConfig};
pub use producer::{KeyPage, PendingSend, Producer};
pub use transaction::{LocalOutcome, TransactionChecker, TransactionProducer};

use crate::error::{Error, Result};
use crate::protocol::FrameBody;
pub use crate::protocol::{ConsumeFrom, ConsumeMode, SendReceipt, TxnState};

/// Connects to the broker at `addr`, sends a ping and waits for the answer,
/// all within `timeout`: the probe behind the services' `/health`.
pub async fn ping(addr: &str, timeout: Duration) -> Result<Duration> {
    let started = std::time::Instant::now();
    let probe = async {
        let link = conn::Link::connect(addr, timeout, None).await?;
        let answer = link.request(FrameBody::Ping).await;
        link.close();
        match answer? {
            FrameBody::Pong => Ok(started.elapsed()),
            other => Err(Error::Malformed(format!(
                "unexpected answer to ping: kind 0x{:02X}",
                other.kind()
            ))),
        }
    };
    tokio::time::timeout(timeout, probe)
        .await
        .map_err(|_| Error::Timeout(timeout))?
}
