//! Shop's message broker: a RocketMQ-like durable broker with consumer
//! groups, retries and dead letter queues; delayed, transactional, ordered
//! and broadcast messages.
//!
//! Layers, bottom up: [`wire`] and [`message`] (byte layouts), [`storage`]
//! (commit log, indexes, recovery, offsets), [`filter`] (tag and SQL92
//! subscription filters), [`protocol`] (frames and codec),
//! `broker` (topics, subscriptions, delivery, retries), `server` (TCP loop
//! and one module per command), `admin` (HTTP API) and [`client`]
//! ([`Producer`], [`TransactionProducer`], [`Consumer`]).

pub mod admin;
pub mod broker;
pub mod client;
pub mod config;
pub mod error;
pub mod filter;
pub mod fuzz;
pub mod message;
pub mod metrics;
pub mod process;
pub mod protocol;
pub mod server;
pub mod storage;
pub mod wire;

pub use broker::{Broker, BrokerHandle};
pub use client::{
    ConsumeResult, Consumer, ConsumerConfig, LocalOutcome, Producer, TransactionChecker,
    TransactionProducer, TxnState, ping,
};
pub use config::BrokerConfig;
pub use error::{Error, ErrorCode, Result};
pub use message::{Message, MessageId, StoredMessage};
