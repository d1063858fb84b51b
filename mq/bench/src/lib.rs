//! `mq-bench`: durable publish and produce→consume→ack throughput of Shop's broker
//! against NATS JetStream and RabbitMQ, on one machine, in one run.
//!
//! `target` says what a broker must offer, `peers` adapts each broker to it, `servers`
//! starts the brokers this program runs itself, `measure` times the phases the same way
//! for all, `run` goes through targets and publisher counts, `report` prints.

pub mod cli;
pub mod measure;
pub mod peers;
pub mod report;
pub mod run;
pub mod servers;
pub mod target;

pub use cli::{Args, TargetName};
pub use run::run;
