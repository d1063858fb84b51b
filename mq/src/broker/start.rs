//! Starting and stopping a broker: in-process ([`Broker::start`], used by
//! tests and by the `mq-broker` binary alike).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::BrokerCore;
use crate::config::BrokerConfig;
use crate::error::{Error, Result};
use crate::storage::Store;

/// Entry point for running a broker.
pub struct Broker;

/// A running broker.
pub struct BrokerHandle {
    /// Bound address of the client protocol.
    pub addr: SocketAddr,
    /// Bound address of the admin HTTP API.
    pub admin_addr: SocketAddr,
    pub core: Arc<BrokerCore>,
    tasks: Vec<JoinHandle<()>>,
}

impl Broker {
    /// Recovers the store, binds both listeners (port 0 works) and starts
    /// serving. Fails with [`Error::UntrustedDataDir`] on a damaged store.
    pub async fn start(config: BrokerConfig) -> Result<BrokerHandle> {
        config.validate()?;
        let store_config = config.store_config();
        let store = tokio::task::spawn_blocking(move || Store::open(store_config))
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))??;
        let listener = TcpListener::bind(&config.listen).await?;
        let admin_listener = TcpListener::bind(&config.admin_listen).await?;
        let addr = listener.local_addr()?;
        let admin_addr = admin_listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let core = Arc::new(BrokerCore {
            store: Arc::new(store),
            config,
            subs: Default::default(),
            broadcast_seen: Default::default(),
            next_id: Default::default(),
            next_sub: Default::default(),
            shutdown: shutdown.clone(),
            delays: Default::default(),
            txns: Default::default(),
            scheduling: Default::default(),
        });
        let unresolved = core.store.take_unresolved();
        super::delay::restore(&core, &unresolved);
        super::checkback::restore(&core, &unresolved).await?;
        crate::metrics::install();
        if core.store.damaged_at_open > 0 {
            metrics::counter!("mq_unreadable_records_total", "what" => "recovery")
                .increment(core.store.damaged_at_open as u64);
        }
        // Old segments go before anything is served: a restart frees space.
        retention_pass(&core).await;
        let mut tasks = vec![
            tokio::spawn(crate::server::run(listener, core.clone())),
            tokio::spawn(crate::admin::serve(admin_listener, core.clone())),
        ];
        tasks.push(tokio::spawn(flush_offsets(core.clone())));
        tasks.push(tokio::spawn(retention(core.clone())));
        tasks.push(tokio::spawn(forget_broadcast_members(core.clone())));
        tasks.push(tokio::spawn(super::delay::run(core.clone())));
        tasks.push(tokio::spawn(super::checkback::run(core.clone())));
        tracing::info!(%addr, %admin_addr, "broker started");
        Ok(BrokerHandle {
            addr,
            admin_addr,
            core,
            tasks,
        })
    }
}

impl BrokerHandle {
    /// Stops accepting, lets connections finish their replies, writes the
    /// consumer offsets and returns when everything has stopped.
    pub async fn shutdown(self) {
        self.core.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
        if let Err(e) = self.core.store.flush_offsets() {
            tracing::error!(error = %e, "writing consumer offsets at shutdown failed");
        }
        if let Err(e) = self.core.store.close() {
            tracing::error!(error = %e, "syncing the log at shutdown failed");
        }
        tracing::info!("broker stopped");
    }

    /// Resolves when shutdown was requested (for the binary's main loop).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.core.shutdown.clone()
    }
}

async fn flush_offsets(core: Arc<BrokerCore>) {
    let mut tick = tokio::time::interval(core.config.offset_flush_interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = core.shutdown.cancelled() => break,
        }
        let store = core.store.clone();
        match tokio::task::spawn_blocking(move || store.flush_offsets()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "writing consumer offsets failed"),
            Err(e) => tracing::error!(error = %e, "offset flush task failed"),
        }
    }
    tracing::debug!("offset flusher stopped: shutdown");
}

/// Looks for gone broadcast members a few times per
/// `MQ_BROADCAST_FORGET_AFTER` (at most every minute).
async fn forget_broadcast_members(core: Arc<BrokerCore>) {
    let every = (core.config.broadcast_forget_after / 4)
        .clamp(Duration::from_millis(20), Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = core.shutdown.cancelled() => break,
        }
        core.forget_broadcast_members();
    }
}

async fn retention(core: Arc<BrokerCore>) {
    let every = core
        .config
        .retention_check_interval
        .max(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = core.shutdown.cancelled() => break,
        }
        retention_pass(&core).await;
    }
    tracing::debug!("retention stopped: shutdown");
}

/// Copies pending delayed and half records out of the segments old enough
/// to go, then deletes those segments. A record that could not be copied
/// keeps its segment (the retention floor).
async fn retention_pass(core: &Arc<BrokerCore>) {
    let cut = core.store.retention_cut();
    if cut > 0 {
        super::forward::forward_pending(core, cut).await;
    }
    let floor = [core.delays.min_log_offset(), core.txns.min_log_offset()];
    core.store
        .set_retention_floor(floor.into_iter().flatten().min().unwrap_or(u64::MAX));
    let store = core.store.clone();
    match tokio::task::spawn_blocking(move || store.apply_retention()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "retention failed"),
        Err(e) => tracing::error!(error = %e, "retention task failed"),
    }
}
