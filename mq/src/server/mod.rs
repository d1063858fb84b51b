//! The TCP server: accepts connections up to the connection limit (one over
//! the limit gets an error frame and is closed), runs each on its own task,
//! and on shutdown stops accepting and waits for every connection to finish
//! its pending replies.

mod cmd;
mod connection;
pub mod outbox;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::broker::BrokerCore;

/// Accept loop; returns after shutdown once all connections are closed.
pub async fn run(listener: TcpListener, core: Arc<BrokerCore>) {
    let limit = Arc::new(Semaphore::new(core.config.max_connections));
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = core.shutdown.cancelled() => break,
        };
        let (socket, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Typically out of file descriptors: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        while connections.try_join_next().is_some() {}
        match limit.clone().try_acquire_owned() {
            Ok(permit) => {
                let core = core.clone();
                connections.spawn(async move {
                    metrics::gauge!("mq_connections").increment(1.0);
                    connection::serve(socket, peer, core).await;
                    metrics::gauge!("mq_connections").decrement(1.0);
                    drop(permit);
                });
            }
            Err(_) => {
                tracing::warn!(%peer, "connection limit reached; refusing");
                connections.spawn(connection::refuse(socket));
            }
        }
    }
    tracing::info!("server stopped accepting: shutdown");
    while connections.join_next().await.is_some() {}
}
