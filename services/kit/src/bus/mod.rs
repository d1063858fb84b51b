//! The message-bus port: what the services send and receive, whatever the broker.
//!
//! The services see only this module's types: [`Message`] (what they send: topic, one
//! tag, keys, properties, body, an optional delivery time), [`Delivery`] (what a
//! consumer receives: the same plus the broker's id, the attempt and the store time),
//! [`TxnState`] and [`LocalOutcome`] (transactional messages), [`ConsumeResult`] and
//! [`Subscription`] (consumer groups with a tag filter). [`Bus`] is the handle: it
//! sends (one message or a batch of one topic, acknowledged once stored durably),
//! makes transactional producers whose check-back a [`TransactionChecker`] answers,
//! and runs the members of consumer groups. Retries with backoff and the dead letter
//! queue of a group are the broker's, on its own schedule.
//!
//! A backend implements [`Backend`]; [`embedded`] is the project's own `mq` broker
//! (the default); `rocketmq` (cargo feature `rocketmq`) is Apache RocketMQ through
//! its Rust client. [`Bus::from_env`] picks one with `SHOP_BUS`. The consumer log, the outbox and every business rule sit above
//! this port and do not change with the backend.

pub mod embedded;
mod message;
#[cfg(feature = "rocketmq")]
pub mod rocketmq;
mod trace;

use std::{fmt, future::Future, pin::Pin, sync::Arc, time::Duration};

use tokio::sync::OnceCell;
use tracing::Instrument;

pub use message::{ConsumeResult, Delivery, LocalOutcome, Message, Receipt, TxnState};

/// A boxed future, as the object-safe [`Backend`] returns them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How long one send may take, connect included, before it counts as failed.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the bus did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker refused or could not be reached.
    #[error("broker: {0}")]
    Broker(String),
    /// The broker did not answer in time.
    #[error("broker did not acknowledge within {0:?}")]
    Timeout(Duration),
    /// The request itself is wrong (empty topic, body too large…).
    #[error("invalid message: {0}")]
    Invalid(String),
}

/// Where and how a consumer group subscribes.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub group: String,
    pub topic: String,
    /// `*` or `a || b`.
    pub tags: String,
    /// Messages one member handles at once.
    pub concurrency: usize,
}

/// Messages a consumer handles at once by default. Small on purpose: many
/// compensations touch the same hot rows (one goods item), where more concurrency only
/// holds more pool connections waiting on one row lock, starving the service's
/// requests.
pub const DEFAULT_CONCURRENCY: usize = 4;

impl Subscription {
    /// Group `group` consuming `topic` messages tagged `tags` (`*`, `a || b`).
    pub fn new(group: &str, topic: &str, tags: &str) -> Subscription {
        Subscription {
            group: group.into(),
            topic: topic.into(),
            tags: tags.into(),
            concurrency: DEFAULT_CONCURRENCY,
        }
    }

    /// The tags of the filter, trimmed (`*` is every tag).
    pub fn tag_list(&self) -> Vec<String> {
        self.tags
            .split("||")
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect()
    }
}

/// What handles each delivery of a subscription.
pub type Handler = Arc<dyn Fn(Delivery) -> BoxFuture<'static, ConsumeResult> + Send + Sync>;

/// Answers the broker's check-back on a transactional message left undecided, from
/// local state only (the message may be asked about after it was rolled back).
pub trait TransactionChecker: Send + Sync + 'static {
    fn check(&self, message: Delivery) -> impl Future<Output = TxnState> + Send;
}

impl<F, Fut> TransactionChecker for F
where
    F: Fn(Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = TxnState> + Send,
{
    fn check(&self, message: Delivery) -> impl Future<Output = TxnState> + Send {
        self(message)
    }
}

/// [`TransactionChecker`] behind a pointer, for the backends.
pub type Checker = Arc<dyn Fn(Delivery) -> BoxFuture<'static, TxnState> + Send + Sync>;

fn erase_checker<C: TransactionChecker>(checker: C) -> Checker {
    let checker = Arc::new(checker);
    Arc::new(move |message| {
        let checker = checker.clone();
        let span = trace::check_span(&message);
        Box::pin(async move { checker.check(message).await }.instrument(span))
    })
}

/// A stored half message waiting for its local transaction's outcome.
pub trait HalfMessage: Send {
    /// The broker's id of the half message.
    fn id(&self) -> &str;
    /// Commits or rolls back the half message (`Unknown` leaves it to the check-back).
    fn end(self: Box<Self>, state: TxnState) -> BoxFuture<'static, Result<(), BusError>>;
}

/// A connected producer of transactional messages of one producer group.
pub trait TxnBackend: Send + Sync {
    /// Stores `message` as a half message (invisible to consumers).
    fn send_half(&self, message: Message) -> BoxFuture<'_, Result<Box<dyn HalfMessage>, BusError>>;
}

/// A running member of a consumer group.
pub trait Running: Send {
    /// Stops taking deliveries, lets running handlers finish, leaves the group.
    fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// A broker behind the port.
pub trait Backend: Send + Sync + 'static {
    /// `mq <addr>`, `rocketmq <namesrv>`: for logs and health.
    fn describe(&self) -> String;
    /// Sends messages of one topic, stored durably and acknowledged together.
    fn send_batch(&self, messages: Vec<Message>) -> BoxFuture<'_, Result<Vec<Receipt>, BusError>>;
    /// Connects a transactional producer of `group` whose check-backs `checker` answers.
    fn transaction_producer(
        &self,
        group: &str,
        checker: Checker,
    ) -> BoxFuture<'_, Result<Box<dyn TxnBackend>, BusError>>;
    /// Joins `subscription`'s group (failing while the broker is unreachable) and
    /// hands every delivery to `handler`.
    fn subscribe(
        &self,
        subscription: Subscription,
        handler: Handler,
    ) -> BoxFuture<'_, Result<Box<dyn Running>, BusError>>;
    /// Whether the broker answers within `timeout`.
    fn ping(&self, timeout: Duration) -> BoxFuture<'_, bool>;
}

/// The services' handle on the message bus; cheap to clone.
#[derive(Clone)]
pub struct Bus {
    backend: Arc<dyn Backend>,
    timeout: Duration,
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Bus")
            .field(&self.backend.describe())
            .finish()
    }
}

impl Bus {
    /// A bus on `backend`.
    pub fn new(backend: impl Backend) -> Bus {
        Bus {
            backend: Arc::new(backend),
            timeout: SEND_TIMEOUT,
        }
    }

    /// The embedded `mq` broker at `addr`; nothing is contacted yet.
    pub fn embedded(addr: &str) -> Bus {
        Bus::new(embedded::EmbeddedBus::new(addr))
    }

    /// The bus `SHOP_BUS` names: `mq` (the default: the embedded broker at
    /// `mq_addr`) or `rocketmq` (the name servers of `ROCKETMQ_NAMESRV_ADDR`, retries
    /// before the dead letter queue from `ROCKETMQ_MAX_RECONSUME_TIMES`; needs the
    /// cargo feature `rocketmq`). Nothing is contacted yet.
    pub fn from_env(mq_addr: &str) -> Result<Bus, BusError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        match var("SHOP_BUS").as_deref().map(str::trim) {
            None | Some("mq") => Ok(Bus::embedded(mq_addr)),
            Some("rocketmq") => Self::rocketmq_from_env(
                var("ROCKETMQ_NAMESRV_ADDR"),
                var("ROCKETMQ_MAX_RECONSUME_TIMES"),
                var("ROCKETMQ_CLIENT_INTERVAL"),
            ),
            Some(other) => Err(BusError::Invalid(format!(
                "SHOP_BUS={other}: expected mq or rocketmq"
            ))),
        }
    }

    #[cfg(feature = "rocketmq")]
    fn rocketmq_from_env(
        namesrv: Option<String>,
        max_reconsume: Option<String>,
        client_interval: Option<String>,
    ) -> Result<Bus, BusError> {
        let namesrv = namesrv.ok_or_else(|| {
            BusError::Invalid("SHOP_BUS=rocketmq needs ROCKETMQ_NAMESRV_ADDR".into())
        })?;
        let mut config = rocketmq::RocketMqConfig::new(namesrv.trim());
        if let Some(times) = max_reconsume {
            config.max_reconsume_times = times.trim().parse().map_err(|_| {
                BusError::Invalid(format!(
                    "ROCKETMQ_MAX_RECONSUME_TIMES={times}: not a number"
                ))
            })?;
        }
        if let Some(interval) = client_interval {
            config.client_interval =
                crate::settings::parse_duration(interval.trim()).map_err(|e| {
                    BusError::Invalid(format!("ROCKETMQ_CLIENT_INTERVAL={interval}: {e}"))
                })?;
        }
        Ok(Bus::new(rocketmq::RocketMqBus::new(config)))
    }

    #[cfg(not(feature = "rocketmq"))]
    fn rocketmq_from_env(
        _namesrv: Option<String>,
        _max_reconsume: Option<String>,
        _client_interval: Option<String>,
    ) -> Result<Bus, BusError> {
        Err(BusError::Invalid(
            "SHOP_BUS=rocketmq: this build has no RocketMQ backend (cargo feature `rocketmq` of shop-kit)".into(),
        ))
    }

    /// What the bus runs on (`mq 127.0.0.1:9876`).
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// Sends and waits until the broker stored the message durably.
    pub async fn send(&self, message: Message) -> Result<Receipt, BusError> {
        let mut receipts = self.send_batch(vec![message]).await?;
        receipts
            .pop()
            .ok_or_else(|| BusError::Broker("no receipt for the message".into()))
    }

    /// Sends messages of one topic, stored durably and acknowledged together.
    pub async fn send_batch(&self, messages: Vec<Message>) -> Result<Vec<Receipt>, BusError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let mut messages = messages;
        let spans: Vec<_> = messages
            .iter_mut()
            .map(|m| trace::send_span(m, false))
            .collect();
        let answer = tokio::time::timeout(self.timeout, self.backend.send_batch(messages))
            .await
            .map_err(|_| BusError::Timeout(self.timeout))
            .and_then(|answer| answer);
        trace::sent(
            &spans,
            answer.as_ref().map(|r| r.iter().map(|r| r.id.as_str())),
        );
        answer
    }

    /// A transactional producer of `group` whose check-backs `checker` answers;
    /// it connects on first use.
    pub fn transaction_producer<C: TransactionChecker>(
        &self,
        group: &str,
        checker: C,
    ) -> TransactionProducer {
        TransactionProducer {
            bus: self.clone(),
            group: group.into(),
            checker: erase_checker(checker),
            producer: Arc::new(OnceCell::new()),
        }
    }

    /// Joins the group of `subscription`; see [`Backend::subscribe`].
    pub async fn subscribe<F, Fut>(
        &self,
        subscription: Subscription,
        handler: F,
    ) -> Result<Box<dyn Running>, BusError>
    where
        F: Fn(Delivery) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ConsumeResult> + Send + 'static,
    {
        let group: Arc<str> = subscription.group.as_str().into();
        let handler: Handler = Arc::new(move |delivery| {
            let span = trace::consume_span(&group, &delivery);
            let handled = handler(delivery);
            Box::pin(
                async move {
                    let result = handled.await;
                    trace::consumed(&tracing::Span::current(), result);
                    result
                }
                .instrument(span),
            )
        });
        self.backend.subscribe(subscription, handler).await
    }

    /// Whether the broker answers within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.backend.ping(timeout))
            .await
            .unwrap_or(false)
    }
}

/// A transactional producer that connects on first use (a service must start while
/// the broker is down) and, once connected, answers check-backs until dropped.
#[derive(Clone)]
pub struct TransactionProducer {
    bus: Bus,
    group: Arc<str>,
    checker: Checker,
    producer: Arc<OnceCell<Box<dyn TxnBackend>>>,
}

impl fmt::Debug for TransactionProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransactionProducer")
            .field("bus", &self.bus)
            .field("group", &self.group)
            .finish()
    }
}

impl TransactionProducer {
    /// Connects now, so that check-backs of halves left by an earlier run are answered
    /// without waiting for the first send.
    pub async fn connect(&self) -> Result<(), BusError> {
        self.producer().await.map(|_| ())
    }

    async fn producer(&self) -> Result<&dyn TxnBackend, BusError> {
        let producer = self
            .producer
            .get_or_try_init(|| {
                self.bus
                    .backend
                    .transaction_producer(&self.group, self.checker.clone())
            })
            .await?;
        Ok(&**producer)
    }

    /// Stores `message` as a half message within `timeout` (connecting first when
    /// needed); `Err` means nothing was stored.
    pub async fn send_half(
        &self,
        message: Message,
        timeout: Duration,
    ) -> Result<Box<dyn HalfMessage>, BusError> {
        let mut message = message;
        let span = trace::send_span(&mut message, true);
        let half = async { self.producer().await?.send_half(message).await };
        let answer = tokio::time::timeout(timeout, half)
            .instrument(span.clone())
            .await
            .map_err(|_| BusError::Timeout(timeout))
            .and_then(|answer| answer);
        trace::sent(&[span], answer.as_ref().map(|half| [half.id()]));
        answer
    }

    /// Runs `local` as the local transaction of `message`: the message becomes visible
    /// exactly when `local` committed. `Err` means the half message was not stored
    /// and `local` did not run. When the broker cannot be told the outcome within
    /// `timeout`, its check-back asks later.
    pub async fn send_in_transaction<T, F, Fut>(
        &self,
        message: Message,
        timeout: Duration,
        local: F,
    ) -> Result<LocalOutcome<T>, BusError>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = LocalOutcome<T>> + Send,
    {
        let half = self.send_half(message, timeout).await?;
        let id = half.id().to_owned();
        // `local` bounds itself; cutting it short here after its commit would
        // misreport the outcome.
        let outcome = local().await;
        let state = outcome.state();
        let end = tokio::time::timeout(timeout, half.end(state)).await;
        if state != TxnState::Unknown && !matches!(end, Ok(Ok(()))) {
            tracing::warn!(%id, outcome = state.name(),
                "the broker was not told the outcome; its check-back will ask");
        }
        Ok(outcome)
    }
}
