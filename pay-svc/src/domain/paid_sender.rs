//! Sending the `paid` messages right after their callbacks committed, in batches.
//!
//! A callback hands its committed outbox row to [`PaidSender::send_soon`] and answers
//! at once. One background task takes whatever rows have gathered (up to
//! [`MAX_BATCH`]) and sends them with [`Outbox::send_rows`]: one read, one broker
//! batch and one delete for the lot, instead of a task and two queries per message
//! competing with the callbacks for the database. Under load the batches grow by
//! themselves; at rest a row is sent alone, at once.
//!
//! Nothing here is needed for safety: a row the sender never reaches (queue full,
//! broker down, shutdown, crash) stays in `trade_mq_producer_temp` and the relay
//! sends it after `OUTBOX_RETRY_AFTER`.

use services::outbox::Outbox;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Rows sent in one batch at most.
pub const MAX_BATCH: usize = 256;
/// Rows waiting for the sender at most; beyond, the relay sends them.
const QUEUE: usize = 16 * 1024;

/// The handle callbacks give their committed rows to.
#[derive(Clone, Debug)]
pub struct PaidSender {
    queue: mpsc::Sender<u64>,
}

impl PaidSender {
    /// The sender and its task, which runs until `shutdown`.
    pub fn new(
        outbox: Outbox,
        shutdown: CancellationToken,
    ) -> (PaidSender, impl Future<Output = ()> + Send + 'static) {
        let (queue, rows) = mpsc::channel(QUEUE);
        (PaidSender { queue }, run(outbox, rows, shutdown))
    }

    /// Sends the committed row `id` soon; never waits.
    pub fn send_soon(&self, id: u64) {
        if self.queue.try_send(id).is_err() {
            tracing::debug!(id, "sender queue full: the relay will send the row");
        }
    }
}

async fn run(outbox: Outbox, mut rows: mpsc::Receiver<u64>, shutdown: CancellationToken) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let received = tokio::select! {
            _ = shutdown.cancelled() => 0,
            n = rows.recv_many(&mut batch, MAX_BATCH) => n,
        };
        if received == 0 {
            tracing::info!("paid message sender stopped: shutting down");
            return;
        }
        if let Err(error) = outbox.send_rows(&batch).await {
            tracing::warn!(
                rows = batch.len(),
                error = format!("{error:#}"),
                "paid messages not sent yet; the relay will resend them"
            );
        }
        batch.clear();
    }
}
