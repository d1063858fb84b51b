//! [`TransactionProducer`]: transactional (half) messages.
//!
//! ```text
//! TransactionProducer::connect(addr: &str, producer_group: &str, checker: C) -> Result<TransactionProducer>
//!     where C: TransactionChecker   // or a closure Fn(StoredMessage) -> impl Future<Output = TxnState>
//! producer.send_in_transaction(message: Message, local: F) -> Result<(SendReceipt, LocalOutcome<T>)>
//!     where F: FnOnce() -> Fut + Send, Fut: Future<Output = LocalOutcome<T>> + Send
//! ```
//!
//! `send_in_transaction` stores the message as a half message (invisible to
//! consumers; an error here means `local` did not run), runs `local`, then
//! commits on [`LocalOutcome::Commit`] or rolls back on
//! [`LocalOutcome::Rollback`]; on [`LocalOutcome::Unknown`] it leaves the
//! half undecided. If telling the broker fails (connection lost), the
//! outcome is still returned and the broker's check-back settles it.
//!
//! A half left undecided is checked back after `MQ_TXN_CHECK_AFTER`: the
//! broker sends it to a connected producer of the same group, whose
//! [`TransactionChecker`] answers from the local state. The producer keeps
//! a connection open for this and reconnects (re-registering its group) by
//! itself after the broker restarts.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::conn::{Link, await_answer};
use crate::error::{Error, Result};
use crate::message::{Message, StoredMessage, decode_record, now_ms};
use crate::protocol::{Frame, FrameBody, SendReceipt, TxnState};

/// What the local transaction decided, with its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalOutcome<T> {
    /// Committed: the message becomes visible.
    Commit(T),
    /// Not committed: the message is never delivered.
    Rollback(T),
    /// Not known: the broker checks back later.
    Unknown(T),
}

impl<T> LocalOutcome<T> {
    pub fn state(&self) -> TxnState {
        match self {
            LocalOutcome::Commit(_) => TxnState::Commit,
            LocalOutcome::Rollback(_) => TxnState::Rollback,
            LocalOutcome::Unknown(_) => TxnState::Unknown,
        }
    }

    pub fn into_inner(self) -> T {
        match self {
            LocalOutcome::Commit(t) | LocalOutcome::Rollback(t) | LocalOutcome::Unknown(t) => t,
        }
    }
}

/// Answers the broker's check-back on an undecided half message (its id,
/// keys, properties and body are in the message).
pub trait TransactionChecker: Send + Sync + 'static {
    fn check(&self, message: StoredMessage) -> impl Future<Output = TxnState> + Send;
}

impl<F, Fut> TransactionChecker for F
where
    F: Fn(StoredMessage) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = TxnState> + Send,
{
    fn check(&self, message: StoredMessage) -> impl Future<Output = TxnState> + Send {
        self(message)
    }
}

/// A producer of transactional messages for one producer group.
pub struct TransactionProducer {
    group: String,
    link: watch::Receiver<Option<Arc<Link>>>,
    stop: CancellationToken,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const RECONNECT_DELAY: Duration = Duration::from_millis(200);

impl TransactionProducer {
    /// Connects and registers as a producer of `producer_group`; check-backs
    /// are answered by `checker` from then on, until [`close`](Self::close)
    /// or drop.
    pub async fn connect<C: TransactionChecker>(
        addr: &str,
        producer_group: &str,
        checker: C,
    ) -> Result<TransactionProducer> {
        if producer_group.is_empty() {
            return Err(Error::Invalid("a producer group is needed".into()));
        }
        let (link, pushes) = open(addr, producer_group).await?;
        let (tx, rx) = watch::channel(Some(link.clone()));
        let stop = CancellationToken::new();
        let keeper = Keeper {
            addr: addr.to_string(),
            group: producer_group.to_string(),
            checker: Arc::new(checker),
            links: tx,
            stop: stop.clone(),
        };
        tokio::spawn(keeper.run(link, pushes));
        Ok(TransactionProducer {
            group: producer_group.to_string(),
            link: rx,
            stop,
        })
    }

    /// Sends `message` as a half message, runs `local`, then commits or rolls
    /// back as it decided (see the module docs).
    pub async fn send_in_transaction<T, F, Fut>(
        &self,
        message: Message,
        local: F,
    ) -> Result<(SendReceipt, LocalOutcome<T>)>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = LocalOutcome<T>> + Send,
    {
        let receipt = self.send_half(message).await?;
        let outcome = local().await;
        let state = outcome.state();
        if state != TxnState::Unknown {
            if let Err(e) = self.end(&receipt.id, state).await {
                tracing::warn!(id = %receipt.id, outcome = state.name(), error = %e,
                    "could not tell the broker the transaction's outcome; its check-back will ask");
            }
        }
        Ok((receipt, outcome))
    }

    /// Stores a half message only (invisible until [`end`](Self::end)).
    pub async fn send_half(&self, mut message: Message) -> Result<SendReceipt> {
        message.validate()?;
        if message.born_at_ms == 0 {
            message.born_at_ms = now_ms();
        }
        let body = FrameBody::SendHalf {
            producer_group: self.group.clone(),
            message,
        };
        match self.link().await?.request(body).await? {
            FrameBody::SendOk(r) => Ok(r),
            other => Err(unexpected(&other)),
        }
    }

    /// Commits or rolls back the half message `id` (`Unknown` does nothing).
    pub async fn end(&self, id: &str, state: TxnState) -> Result<()> {
        let body = FrameBody::EndTxn {
            id: id.to_string(),
            producer_group: self.group.clone(),
            state,
            from_check: false,
        };
        match self.link().await?.request(body).await? {
            FrameBody::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Stops answering check-backs and closes the connection.
    pub async fn close(&self) {
        self.stop.cancel();
    }

    /// The live link, waiting (up to the connect timeout) for a reconnect.
    async fn link(&self) -> Result<Arc<Link>> {
        let mut rx = self.link.clone();
        let wait = rx.wait_for(|l| l.as_ref().is_some_and(|l| !l.is_closed()));
        match tokio::time::timeout(CONNECT_TIMEOUT, wait).await {
            Ok(Ok(l)) => Ok(l.clone().expect("checked by wait_for")),
            Ok(Err(_)) => Err(Error::ShuttingDown),
            Err(_) => Err(Error::Timeout(CONNECT_TIMEOUT)),
        }
    }
}

impl Drop for TransactionProducer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Connects and says hello as a producer of `group`.
async fn open(addr: &str, group: &str) -> Result<(Arc<Link>, mpsc::UnboundedReceiver<Frame>)> {
    let (push, pushes) = mpsc::unbounded_channel();
    let link = Link::connect(addr, CONNECT_TIMEOUT, Some(push)).await?;
    let hello = FrameBody::Hello {
        client_id: format!("txn-{}", std::process::id()),
        producer_group: group.to_string(),
    };
    match await_answer(link.start(hello)?).await {
        Ok(_) => Ok((link, pushes)),
        Err(e) => {
            link.close();
            Err(e)
        }
    }
}

/// Keeps the connection: answers check-backs, reconnects when it breaks.
struct Keeper<C> {
    addr: String,
    group: String,
    checker: Arc<C>,
    links: watch::Sender<Option<Arc<Link>>>,
    stop: CancellationToken,
}

impl<C: TransactionChecker> Keeper<C> {
    async fn run(self, mut link: Arc<Link>, mut pushes: mpsc::UnboundedReceiver<Frame>) {
        loop {
            loop {
                let frame = tokio::select! {
                    f = pushes.recv() => f,
                    _ = self.stop.cancelled() => {
                        link.close();
                        return;
                    }
                };
                match frame {
                    Some(Frame {
                        body:
                            FrameBody::CheckTxn {
                                instance,
                                log_offset,
                                record,
                            },
                        ..
                    }) => self.answer(&link, decode_record(&record, instance, log_offset)),
                    Some(_) => {}
                    None => break,
                }
            }
            self.links.send_replace(None);
            tracing::warn!(group = %self.group, "transaction producer lost the broker; reconnecting");
            (link, pushes) = loop {
                tokio::select! {
                    _ = tokio::time::sleep(RECONNECT_DELAY) => {}
                    _ = self.stop.cancelled() => return,
                }
                match open(&self.addr, &self.group).await {
                    Ok(x) => break x,
                    Err(e) => tracing::debug!(error = %e, "reconnect failed; retrying"),
                }
            };
            self.links.send_replace(Some(link.clone()));
            tracing::info!(group = %self.group, "transaction producer reconnected");
        }
    }

    fn answer(&self, link: &Arc<Link>, message: Result<StoredMessage>) {
        let message = match message {
            Ok(m) => m,
            Err(e) => return tracing::error!(error = %e, "undecodable check-back"),
        };
        let (checker, link, group) = (self.checker.clone(), link.clone(), self.group.clone());
        tokio::spawn(async move {
            let id = message.id.to_string();
            let state = checker.check(message).await;
            let body = FrameBody::EndTxn {
                id: id.clone(),
                producer_group: group,
                state,
                from_check: true,
            };
            if let Err(e) = link.request(body).await {
                tracing::debug!(%id, error = %e, "check-back answer not taken");
            }
        });
    }
}

fn unexpected(body: &FrameBody) -> Error {
    Error::Malformed(format!(
        "unexpected answer: frame kind 0x{:02X}",
        body.kind()
    ))
}
