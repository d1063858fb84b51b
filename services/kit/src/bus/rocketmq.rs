//! The RocketMQ backend (`SHOP_BUS=rocketmq`, cargo feature `rocketmq`), through
//! `rocketmq-client-rust` 1.0.0.
//!
//! How the port maps:
//! - topic, tag, keys and body one to one; each port property is a RocketMQ user
//!   property of the same name (names RocketMQ reserves for itself are refused as
//!   [`BusError::Invalid`]); a delivery carries the user properties only;
//! - a delivery time is a timer message (`__STARTDELIVERTIME`, the broker's timer
//!   wheel), exact to the broker's timer precision rather than rounded to a delay level;
//! - a batch is sent message by message, in order (RocketMQ batches take no timer
//!   messages), so a failure part-way leaves the first ones sent: the outbox above
//!   the port sends again and consumers drop duplicates by key;
//! - transactional messages use RocketMQ's half messages. The client runs the local
//!   transaction inside `send_message_in_transaction` through a synchronous listener
//!   on its own blocking lane; the port's `send_half` / `end` are bridged onto it: the
//!   listener reports the stored half, then waits (on that blocking thread, never on
//!   a runtime worker) for the outcome `end` sends. A half whose outcome never comes
//!   is left `Unknown`, and the broker's check-back asks the same
//!   [`TransactionChecker`](super::TransactionChecker) the embedded backend uses;
//! - consumer groups are clustered push consumers with the subscription's tag
//!   expression; a handler's `Later` is `ReconsumeLater`, so the broker redelivers
//!   on its delay levels and, after `ROCKETMQ_MAX_RECONSUME_TIMES` (16) retries,
//!   moves the message to `%DLQ%<group>`. The client calls listeners synchronously
//!   on its blocking lane: each delivery is handed to the async handler on the
//!   service's runtime and the blocking thread waits for its answer.
//!
//! The client runs on a runtime of its own (two workers and a blocking lane sized for
//! the listeners that wait on handlers), made once per process.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, OnceLock, mpsc},
    time::Duration,
};

use cheetah_string::CheetahString;
use rocketmq_client_rust::{
    ClientConfig, ClientRuntime, ClientRuntimeConfig, ConsumeConcurrentlyContext,
    ConsumeConcurrentlyStatus, ConsumerAdmin, DefaultMQAdminExt, DefaultMQProducer,
    DefaultMQPushConsumer, LocalTransactionState, MQPushConsumer, MessageListenerConcurrently,
    SendStatus, TransactionListener, TransactionMQProducer,
};
use rocketmq_model::common::{
    consumer::consume_from_where::ConsumeFromWhere,
    message::{
        MessageConst, MessageTrait, STRING_HASH_SET, message_ext::MessageExt,
        message_single::Message as RmqMessage,
    },
};
use rocketmq_runtime::{RuntimeConfig, RuntimeOwner};
use tokio::{runtime::Handle, sync::OnceCell};

use super::{
    Backend, BoxFuture, BusError, Checker, ConsumeResult, Delivery, HalfMessage, Handler, Message,
    Receipt, Running, Subscription, TxnBackend, TxnState, message::now_ms,
};

/// RocketMQ's route poll and heartbeat interval.
pub const DEFAULT_CLIENT_INTERVAL: Duration = Duration::from_secs(30);

/// Retries of a delivery before it moves to `%DLQ%<group>` (RocketMQ's default).
pub const DEFAULT_MAX_RECONSUME_TIMES: i32 = 16;

/// How long a handler may take on one delivery before the delivery counts as failed
/// (and is retried).
const HANDLER_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the listener of a half message waits for its local transaction's outcome
/// before leaving it to the check-back.
const DECISION_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a check-back may take before it answers `Unknown` (asked again later).
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Queues of a topic the adapter creates.
const TOPIC_QUEUES: i32 = 4;

/// The topic whose route names the brokers that create topics on first use.
const AUTO_CREATE_TOPIC_KEY: &str = "TBW102";

/// Producer group of the plain producer (RocketMQ requires one; only transactional
/// producers' groups mean anything to the broker).
const PLAIN_PRODUCER_GROUP: &str = "shop-producer";

/// Settings of the RocketMQ backend.
#[derive(Debug, Clone)]
pub struct RocketMqConfig {
    /// `ROCKETMQ_NAMESRV_ADDR`: `host:port`, several separated by `;`.
    pub namesrv_addr: String,
    /// `ROCKETMQ_MAX_RECONSUME_TIMES`: retries before the dead letter queue.
    pub max_reconsume_times: i32,
    /// `ROCKETMQ_CLIENT_INTERVAL`: how often each client polls the name servers for
    /// routes and sends its heartbeat to the brokers (RocketMQ's default, 30 s). A
    /// restarted broker that lost what was not yet persisted (auto-created topics,
    /// its consumer groups) learns them again at the next heartbeat.
    pub client_interval: Duration,
}

impl RocketMqConfig {
    pub fn new(namesrv_addr: &str) -> RocketMqConfig {
        RocketMqConfig {
            namesrv_addr: namesrv_addr.into(),
            max_reconsume_times: DEFAULT_MAX_RECONSUME_TIMES,
            client_interval: DEFAULT_CLIENT_INTERVAL,
        }
    }

    /// The client settings every producer and consumer of the backend starts with.
    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        // The 1.0.0 client accepts 10 s to 10 min.
        let interval = u32::try_from(self.client_interval.as_millis())
            .unwrap_or(u32::MAX)
            .clamp(10_000, 600_000);
        config.set_poll_name_server_interval(interval);
        config.set_heartbeat_broker_interval(interval);
        config
    }
}

/// The client runtime shared by every producer and consumer of the process. Its
/// owner holds a Tokio runtime, which must never be dropped inside another one: it
/// lives as long as the process.
struct ClientHost {
    _owner: RuntimeOwner,
    runtime: Arc<ClientRuntime>,
}

static HOST: OnceLock<Result<ClientHost, String>> = OnceLock::new();

fn client_runtime() -> Result<Arc<ClientRuntime>, BusError> {
    let host = HOST.get_or_init(|| {
        let mut config = RuntimeConfig::for_parallelism("shop-rocketmq", 2);
        config.max_blocking_threads = 256;
        // Every listener call holds a thread of this lane while the async handler
        // runs: room for every member of every group of a process, and more queued.
        let lane = &mut config.blocking_lane_policies.metadata_io;
        lane.max_concurrency = 192;
        lane.max_queue_depth = 4096;
        lane.queue_timeout = Duration::from_secs(30);
        lane.task_timeout = HANDLER_TIMEOUT + Duration::from_secs(30);
        let owner = RuntimeOwner::plan(config)
            .map_err(|e| format!("rocketmq client runtime: {e:?}"))?
            .build()
            .map_err(|e| format!("rocketmq client runtime: {e}"))?;
        let runtime = ClientRuntime::try_new(
            owner.root_context().component("client"),
            ClientRuntimeConfig::default(),
            rocketmq_observability::TelemetryHandle::noop(),
        )
        .map_err(|e| format!("rocketmq client runtime: {e}"))?;
        Ok(ClientHost {
            _owner: owner,
            runtime,
        })
    });
    match host {
        Ok(host) => Ok(host.runtime.clone()),
        Err(e) => Err(BusError::Broker(e.clone())),
    }
}

fn client_error(error: rocketmq_client_rust::ClientError) -> BusError {
    BusError::Broker(error.to_string())
}

/// The RocketMQ message of a port message.
pub fn to_rocketmq(message: Message) -> Result<RmqMessage, BusError> {
    if message.topic.is_empty() {
        return Err(BusError::Invalid("empty topic".into()));
    }
    if let Some(key) = message.keys.iter().find(|k| k.contains(' ')) {
        return Err(BusError::Invalid(format!(
            "key {key:?}: RocketMQ separates keys with spaces"
        )));
    }
    let mut builder = RmqMessage::builder()
        .topic(message.topic.as_str())
        .body(message.body);
    if !message.tag.is_empty() {
        builder = builder.tags(message.tag.as_str());
    }
    if !message.keys.is_empty() {
        builder = builder.keys(message.keys);
    }
    if let Some(at) = message.deliver_at_ms.filter(|at| *at > now_ms()) {
        builder = builder.deliver_time_ms(at);
    }
    for (name, value) in message.properties {
        builder = builder
            .raw_property(name.as_str(), value)
            .map_err(|e| BusError::Invalid(format!("property {name}: {e}")))?;
    }
    builder
        .build()
        .map_err(|e| BusError::Invalid(e.to_string()))
}

/// The port's delivery of a RocketMQ message (a consumed one or a check-back's).
pub fn from_rocketmq(message: &MessageExt) -> Delivery {
    let properties = message.properties();
    let property = |name: &str| {
        properties
            .get(&CheetahString::from_slice(name))
            .map(|v| v.to_string())
    };
    let id = property(MessageConst::PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX)
        .unwrap_or_else(|| message.msg_id().to_string());
    let keys = property(MessageConst::PROPERTY_KEYS)
        .map(|keys| {
            keys.split(MessageConst::KEY_SEPARATOR)
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let user: BTreeMap<String, String> = properties
        .iter()
        .filter(|(name, _)| !STRING_HASH_SET.contains(name.as_str()))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    // A retried message is delivered from `%RETRY%<group>`; its real topic is kept.
    let topic =
        property(MessageConst::PROPERTY_RETRY_TOPIC).unwrap_or_else(|| message.topic().to_string());
    Delivery {
        id,
        topic,
        tag: property(MessageConst::PROPERTY_TAGS).unwrap_or_default(),
        keys,
        body: message.body().unwrap_or_default(),
        properties: user,
        attempt: u32::try_from(message.reconsume_times()).unwrap_or(0) + 1,
        born_at_ms: u64::try_from(message.born_timestamp()).unwrap_or(0),
        stored_at_ms: u64::try_from(message.store_timestamp()).unwrap_or(0),
    }
}

fn to_local_state(state: TxnState) -> LocalTransactionState {
    match state {
        TxnState::Commit => LocalTransactionState::CommitMessage,
        TxnState::Rollback => LocalTransactionState::RollbackMessage,
        TxnState::Unknown => LocalTransactionState::Unknown,
    }
}

/// A RocketMQ deployment reached through its name servers.
pub struct RocketMqBus {
    config: RocketMqConfig,
    producer: OnceCell<Arc<DefaultMQProducer>>,
    /// For [`RocketMqBus::lag`], made on first use.
    admin: tokio::sync::Mutex<Option<DefaultMQAdminExt>>,
    /// For [`RocketMqBus::lookup_key`] (a query needs the producer to itself).
    lookup: tokio::sync::Mutex<Option<DefaultMQProducer>>,
}

impl RocketMqBus {
    /// Nothing is contacted yet.
    pub fn new(config: RocketMqConfig) -> RocketMqBus {
        RocketMqBus {
            config,
            producer: OnceCell::new(),
            admin: tokio::sync::Mutex::new(None),
            lookup: tokio::sync::Mutex::new(None),
        }
    }

    /// Messages `group` has not consumed yet: broker offset minus consumer offset,
    /// summed over its queues (its retry topic's included).
    ///
    /// Boxed: the client's futures are deep enough to overflow the compiler's query
    /// depth of a caller that holds one inline.
    pub fn lag<'a>(&'a self, group: &'a str) -> BoxFuture<'a, Result<u64, BusError>> {
        Box::pin(self.lag_inline(group))
    }

    async fn lag_inline(&self, group: &str) -> Result<u64, BusError> {
        let mut admin = self.admin.lock().await;
        if admin.is_none() {
            let mut made = DefaultMQAdminExt::new(client_runtime()?);
            made.set_namesrv_addr(self.config.namesrv_addr.as_str());
            made.start().await.map_err(client_error)?;
            *admin = Some(made);
        }
        let admin = admin.as_ref().expect("just made");
        let stats = admin
            .examine_consume_stats(
                CheetahString::from_slice(group),
                None,
                None,
                None,
                Some(5000),
            )
            .await
            .map_err(client_error)?;
        Ok(u64::try_from(stats.compute_total_diff()).unwrap_or(0))
    }

    /// The producer of look-ups and topic creation, started on first use.
    async fn tools(
        &self,
    ) -> Result<tokio::sync::MutexGuard<'_, Option<DefaultMQProducer>>, BusError> {
        let mut lookup = self.lookup.lock().await;
        if lookup.is_none() {
            let mut made = DefaultMQProducer::builder(client_runtime()?)
                .producer_group(format!("{PLAIN_PRODUCER_GROUP}-tools").as_str())
                .client_config(self.config.client_config())
                .name_server_addr(self.config.namesrv_addr.as_str())
                .build();
            made.start().await.map_err(client_error)?;
            *lookup = Some(made);
        }
        Ok(lookup)
    }

    /// Creates `topic` (with [`TOPIC_QUEUES`] queues) on the brokers that take
    /// auto-created topics, unless their name servers already route it: a consumer
    /// that subscribes before the first send then finds its route at once instead of
    /// at its next route poll (30 s). A deployment that creates its topics itself
    /// (`autoCreateTopicEnable=false`) loses nothing when this fails.
    async fn ensure_topic(&self, topic: &str) {
        let created = async {
            let mut tools = self.tools().await?;
            let producer = tools.as_mut().expect("made by tools()");
            if producer
                .fetch_publish_message_queues(topic)
                .await
                .is_ok_and(|queues| !queues.is_empty())
            {
                return Ok(());
            }
            producer
                .create_topic(
                    AUTO_CREATE_TOPIC_KEY,
                    topic,
                    TOPIC_QUEUES,
                    Default::default(),
                )
                .await
                .map_err(client_error)
        };
        if let Err(error) = created.await {
            tracing::warn!(%topic, %error, "could not create the topic; relying on the broker's auto-creation");
        }
    }

    /// The messages of `topic` stored with `key` (RocketMQ's key index): what was
    /// sent, not the half messages or retries of it.
    pub fn lookup_key<'a>(
        &'a self,
        topic: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Delivery>, BusError>> {
        Box::pin(self.lookup_key_inline(topic, key))
    }

    async fn lookup_key_inline(&self, topic: &str, key: &str) -> Result<Vec<Delivery>, BusError> {
        let mut lookup = self.tools().await?;
        let producer = lookup.as_mut().expect("made by tools()");
        let found = producer
            .query_message(topic, key, 64, 0, now_ms() + 60_000)
            .await
            .map_err(client_error)?;
        Ok(found
            .message_list()
            .iter()
            .filter(|m| m.topic().as_str() == topic)
            .map(from_rocketmq)
            .filter(|d| d.keys.iter().any(|k| k == key))
            .collect())
    }

    async fn producer(&self) -> Result<&DefaultMQProducer, BusError> {
        let producer = self
            .producer
            .get_or_try_init(|| async {
                let mut producer = DefaultMQProducer::builder(client_runtime()?)
                    .producer_group(PLAIN_PRODUCER_GROUP)
                    .client_config(self.config.client_config())
                    .name_server_addr(self.config.namesrv_addr.as_str())
                    .build();
                producer.start().await.map_err(client_error)?;
                Ok::<_, BusError>(Arc::new(producer))
            })
            .await?;
        Ok(producer)
    }
}

impl Backend for RocketMqBus {
    fn describe(&self) -> String {
        format!("rocketmq {}", self.config.namesrv_addr)
    }

    fn send_batch(&self, messages: Vec<Message>) -> BoxFuture<'_, Result<Vec<Receipt>, BusError>> {
        Box::pin(async move {
            let messages = messages
                .into_iter()
                .map(to_rocketmq)
                .collect::<Result<Vec<_>, _>>()?;
            let producer = self.producer().await?;
            let mut receipts = Vec::with_capacity(messages.len());
            for message in messages {
                let result = match producer.send(message.clone()).await {
                    Ok(result) => result,
                    // A broker restarted before persisting an auto-created topic has
                    // no route for it: create it, then try once more.
                    Err(first) => {
                        tracing::debug!(topic = %message.topic(), error = %first, "send failed; ensuring the topic");
                        self.ensure_topic(message.topic().as_str()).await;
                        producer.send(message).await.map_err(client_error)?
                    }
                }
                .ok_or_else(|| BusError::Broker("no send result".into()))?;
                if result.send_status != SendStatus::SendOk {
                    return Err(BusError::Broker(format!(
                        "not stored durably: {:?}",
                        result.send_status
                    )));
                }
                receipts.push(Receipt {
                    id: result.msg_id.map(|id| id.to_string()).unwrap_or_default(),
                });
            }
            Ok(receipts)
        })
    }

    fn transaction_producer(
        &self,
        group: &str,
        checker: Checker,
    ) -> BoxFuture<'_, Result<Box<dyn TxnBackend>, BusError>> {
        let group = group.to_owned();
        Box::pin(async move {
            let listener = HalfListener {
                checker,
                runtime: Handle::current(),
            };
            let mut producer = TransactionMQProducer::builder(client_runtime()?)
                .producer_group(group.as_str())
                .client_config(self.config.client_config())
                .name_server_addr(self.config.namesrv_addr.as_str())
                .transaction_listener(listener)
                .check_thread_pool_min_size(4)
                .check_thread_pool_max_size(16)
                .build();
            producer.start().await.map_err(client_error)?;
            Ok(Box::new(RocketTxn(Arc::new(producer))) as Box<dyn TxnBackend>)
        })
    }

    fn subscribe(
        &self,
        subscription: Subscription,
        handler: Handler,
    ) -> BoxFuture<'_, Result<Box<dyn Running>, BusError>> {
        Box::pin(async move {
            self.ensure_topic(&subscription.topic).await;
            let threads = u32::try_from(subscription.concurrency.max(1)).unwrap_or(1);
            let mut consumer = DefaultMQPushConsumer::builder(client_runtime()?)
                .consumer_group(subscription.group.as_str())
                .client_config(self.config.client_config())
                .name_server_addr(self.config.namesrv_addr.as_str())
                .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
                .consume_thread_min(threads)
                .consume_thread_max(threads)
                .consume_message_batch_max_size(1)
                .max_reconsume_times(self.config.max_reconsume_times)
                .build();
            consumer
                .subscribe(subscription.topic.as_str(), tag_expression(&subscription))
                .await
                .map_err(client_error)?;
            consumer.register_message_listener_concurrently(HandlerListener {
                handler,
                runtime: Handle::current(),
            });
            consumer.start().await.map_err(client_error)?;
            Ok(Box::new(RocketConsumer(consumer)) as Box<dyn Running>)
        })
    }

    fn ping(&self, timeout: Duration) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            // A name server answering is the cheapest sign of the deployment; the
            // first one that accepts a connection will do.
            for addr in self.config.namesrv_addr.split(';').map(str::trim) {
                let connect = tokio::net::TcpStream::connect(addr);
                if let Ok(Ok(_)) = tokio::time::timeout(timeout, connect).await {
                    return true;
                }
            }
            false
        })
    }
}

/// RocketMQ's tag expression of a subscription: `*` or `a||b`. Written without
/// spaces: the 1.0.0 client trims each tag of the expression but hashes it untrimmed
/// (`FilterAPI::build_subscription_data`), and the broker filters on those hashes, so
/// `a || b` would match neither tag.
fn tag_expression(subscription: &Subscription) -> String {
    let tags = subscription.tag_list();
    if tags.is_empty() || tags.iter().any(|t| t == "*") {
        "*".into()
    } else {
        tags.join("||")
    }
}

/// Hands each delivery to the async handler on the service's runtime and waits for
/// its answer on the client's blocking thread.
struct HandlerListener {
    handler: Handler,
    runtime: Handle,
}

impl MessageListenerConcurrently for HandlerListener {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        _context: &ConsumeConcurrentlyContext,
    ) -> rocketmq_client_rust::ClientResult<ConsumeConcurrentlyStatus> {
        for message in msgs {
            let delivery = from_rocketmq(message);
            tracing::debug!(topic = %delivery.topic, tag = %delivery.tag, id = %delivery.id,
                attempt = delivery.attempt, "rocketmq delivery");
            let (answer, answered) = mpsc::sync_channel(1);
            let handled = (self.handler)(delivery);
            self.runtime.spawn(async move {
                let _ = answer.send(handled.await);
            });
            // A handler that panicked, or a runtime that went away, drops `answer`.
            match answered.recv_timeout(HANDLER_TIMEOUT) {
                Ok(ConsumeResult::Ack) => {}
                Ok(ConsumeResult::Later) | Err(_) => {
                    return Ok(ConsumeConcurrentlyStatus::ReconsumeLater);
                }
            }
        }
        Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
    }
}

struct RocketConsumer(DefaultMQPushConsumer);

impl Running for RocketConsumer {
    fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()> {
        let mut consumer = self.0;
        Box::pin(async move { consumer.shutdown().await })
    }
}

/// What `send_half` and the listener of one half message share.
struct Pending {
    /// The listener reports the stored half's id here.
    stored: Mutex<Option<tokio::sync::oneshot::Sender<String>>>,
    /// The listener waits here for the local transaction's outcome.
    decision: Mutex<Option<mpsc::Receiver<TxnState>>>,
}

/// The transaction listener: executes "local transactions" by waiting for the
/// port's outcome, and answers check-backs with the port's checker.
struct HalfListener {
    checker: Checker,
    runtime: Handle,
}

impl TransactionListener for HalfListener {
    fn execute_local_transaction(
        &self,
        msg: &dyn MessageTrait,
        arg: Option<&(dyn std::any::Any + Send + Sync)>,
    ) -> LocalTransactionState {
        let Some(pending) = arg.and_then(|a| a.downcast_ref::<Arc<Pending>>()) else {
            return LocalTransactionState::Unknown;
        };
        let id = msg
            .transaction_id()
            .map(|id| id.to_string())
            .unwrap_or_default();
        let stored = pending.stored.lock().map(|mut s| s.take()).ok().flatten();
        let decision = pending.decision.lock().map(|mut d| d.take()).ok().flatten();
        if let Some(stored) = stored {
            let _ = stored.send(id);
        }
        // Runs on the client's blocking lane: waiting here holds no runtime worker.
        match decision.map(|d| d.recv_timeout(DECISION_TIMEOUT)) {
            Some(Ok(state)) => to_local_state(state),
            _ => LocalTransactionState::Unknown,
        }
    }

    fn check_local_transaction(&self, msg: &MessageExt) -> LocalTransactionState {
        let (answer, answered) = mpsc::sync_channel(1);
        let checked = (self.checker)(from_rocketmq(msg));
        self.runtime.spawn(async move {
            let _ = answer.send(checked.await);
        });
        match answered.recv_timeout(CHECK_TIMEOUT) {
            Ok(state) => to_local_state(state),
            Err(_) => LocalTransactionState::Unknown,
        }
    }
}

struct RocketTxn(Arc<TransactionMQProducer>);

impl TxnBackend for RocketTxn {
    fn send_half(&self, message: Message) -> BoxFuture<'_, Result<Box<dyn HalfMessage>, BusError>> {
        Box::pin(async move {
            let message = to_rocketmq(message)?;
            let (stored_tx, stored_rx) = tokio::sync::oneshot::channel();
            let (decide, decision) = mpsc::sync_channel(1);
            let pending = Arc::new(Pending {
                stored: Mutex::new(Some(stored_tx)),
                decision: Mutex::new(Some(decision)),
            });
            let producer = self.0.clone();
            let sent = tokio::spawn(async move {
                producer
                    .send_message_in_transaction(message, Some(pending))
                    .await
            });
            match stored_rx.await {
                Ok(id) => Ok(Box::new(RocketHalf { id, decide, sent }) as Box<dyn HalfMessage>),
                // The listener never ran: the half was not stored.
                Err(_) => Err(match sent.await {
                    Ok(Err(e)) => client_error(e),
                    Ok(Ok(result)) => {
                        BusError::Broker(format!("half message not stored: {result}"))
                    }
                    Err(e) => BusError::Broker(format!("half message send: {e}")),
                }),
            }
        })
    }
}

struct RocketHalf {
    id: String,
    decide: mpsc::SyncSender<TxnState>,
    sent: tokio::task::JoinHandle<
        rocketmq_client_rust::ClientResult<rocketmq_client_rust::TransactionSendResult>,
    >,
}

impl HalfMessage for RocketHalf {
    fn id(&self) -> &str {
        &self.id
    }

    fn end(self: Box<Self>, state: TxnState) -> BoxFuture<'static, Result<(), BusError>> {
        let RocketHalf { decide, sent, .. } = *self;
        Box::pin(async move {
            decide
                .send(state)
                .map_err(|_| BusError::Broker("the half message's listener gave up".into()))?;
            // The client tells the broker (one way) once the listener returns.
            match sent.await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(client_error(e)),
                Err(e) => Err(BusError::Broker(format!("half message send: {e}"))),
            }
        })
    }
}
