//! The embedded backend: the project's own `mq` broker, the default.
//!
//! `mq::Producer::connect` fails while the broker is down, and a service must start
//! (and answer `/health` naming `broker`) without it; so the producer is made on the
//! first send and made again after a failed connect. Once made, it reconnects by
//! itself. Retries, backoff and dead letters are the broker's (`MQ_RETRY_SCHEDULE`).

use std::{sync::Arc, time::Duration};

use tokio::sync::OnceCell;

use super::{
    Backend, BoxFuture, BusError, Checker, ConsumeResult, Delivery, HalfMessage, Handler, Message,
    Receipt, Running, Subscription, TxnBackend, TxnState,
};

/// The `mq` broker at one address.
pub struct EmbeddedBus {
    addr: Arc<str>,
    producer: OnceCell<mq::Producer>,
}

impl EmbeddedBus {
    /// Nothing is contacted yet.
    pub fn new(addr: &str) -> EmbeddedBus {
        EmbeddedBus {
            addr: addr.into(),
            producer: OnceCell::new(),
        }
    }

    async fn producer(&self) -> Result<&mq::Producer, BusError> {
        self.producer
            .get_or_try_init(|| mq::Producer::connect(&self.addr))
            .await
            .map_err(broker_error)
    }
}

fn broker_error(error: mq::Error) -> BusError {
    match error {
        mq::Error::Invalid(reason) => BusError::Invalid(reason),
        other => BusError::Broker(other.to_string()),
    }
}

/// The `mq` message of a port message.
pub fn to_mq(message: Message) -> mq::Message {
    let mut out = mq::Message::new(message.topic, message.body).with_tag(message.tag);
    out.keys = message.keys;
    out.properties = message.properties;
    out.deliver_at_ms = message.deliver_at_ms;
    out
}

/// The port's delivery of an `mq` stored message.
pub fn from_mq(message: mq::StoredMessage) -> Delivery {
    Delivery {
        id: message.id.to_string(),
        topic: message.topic,
        tag: message.tag,
        keys: message.keys,
        body: message.body,
        properties: message.properties,
        attempt: message.attempt,
        born_at_ms: message.born_at_ms,
        stored_at_ms: message.stored_at_ms,
    }
}

fn to_mq_state(state: TxnState) -> mq::TxnState {
    match state {
        TxnState::Commit => mq::TxnState::Commit,
        TxnState::Rollback => mq::TxnState::Rollback,
        TxnState::Unknown => mq::TxnState::Unknown,
    }
}

impl Backend for EmbeddedBus {
    fn describe(&self) -> String {
        format!("mq {}", self.addr)
    }

    fn send_batch(&self, messages: Vec<Message>) -> BoxFuture<'_, Result<Vec<Receipt>, BusError>> {
        Box::pin(async move {
            let producer = self.producer().await?;
            let messages = messages.into_iter().map(to_mq).collect();
            let receipts = producer.send_batch(messages).await.map_err(broker_error)?;
            Ok(receipts.into_iter().map(|r| Receipt { id: r.id }).collect())
        })
    }

    fn transaction_producer(
        &self,
        group: &str,
        checker: Checker,
    ) -> BoxFuture<'_, Result<Box<dyn TxnBackend>, BusError>> {
        let group = group.to_owned();
        Box::pin(async move {
            let check = move |stored: mq::StoredMessage| {
                let answer = checker(from_mq(stored));
                async move { to_mq_state(answer.await) }
            };
            let producer = mq::TransactionProducer::connect(&self.addr, &group, check)
                .await
                .map_err(broker_error)?;
            Ok(Box::new(EmbeddedTxn(Arc::new(producer))) as Box<dyn TxnBackend>)
        })
    }

    fn subscribe(
        &self,
        subscription: Subscription,
        handler: Handler,
    ) -> BoxFuture<'_, Result<Box<dyn Running>, BusError>> {
        Box::pin(async move {
            let config =
                mq::ConsumerConfig::new(&self.addr, &subscription.group, &subscription.topic)
                    .tags(&subscription.tags)
                    .concurrency(subscription.concurrency);
            let handle = move |stored: mq::StoredMessage| {
                let handled = handler(from_mq(stored));
                async move {
                    match handled.await {
                        ConsumeResult::Ack => mq::ConsumeResult::Ack,
                        ConsumeResult::Later => mq::ConsumeResult::Later,
                    }
                }
            };
            let consumer = mq::Consumer::start(config, handle)
                .await
                .map_err(broker_error)?;
            Ok(Box::new(EmbeddedConsumer(consumer)) as Box<dyn Running>)
        })
    }

    fn ping(&self, timeout: Duration) -> BoxFuture<'_, bool> {
        Box::pin(async move { mq::ping(&self.addr, timeout).await.is_ok() })
    }
}

struct EmbeddedTxn(Arc<mq::TransactionProducer>);

impl TxnBackend for EmbeddedTxn {
    fn send_half(&self, message: Message) -> BoxFuture<'_, Result<Box<dyn HalfMessage>, BusError>> {
        Box::pin(async move {
            let receipt = self
                .0
                .send_half(to_mq(message))
                .await
                .map_err(broker_error)?;
            Ok(Box::new(EmbeddedHalf {
                producer: self.0.clone(),
                id: receipt.id,
            }) as Box<dyn HalfMessage>)
        })
    }
}

struct EmbeddedHalf {
    producer: Arc<mq::TransactionProducer>,
    id: String,
}

impl HalfMessage for EmbeddedHalf {
    fn id(&self) -> &str {
        &self.id
    }

    fn end(self: Box<Self>, state: TxnState) -> BoxFuture<'static, Result<(), BusError>> {
        Box::pin(async move {
            if state == TxnState::Unknown {
                return Ok(());
            }
            self.producer
                .end(&self.id, to_mq_state(state))
                .await
                .map_err(broker_error)
        })
    }
}

struct EmbeddedConsumer(mq::Consumer);

impl Running for EmbeddedConsumer {
    fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(self.0.shutdown())
    }
}
