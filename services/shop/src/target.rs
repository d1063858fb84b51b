//! Where the system under test is: the URLs of the five services and the broker,
//! the MariaDB schemas, Redis, and the timings it runs with.

use std::time::Duration;

use crate::launcher::SystemConfig;
use shop_kit::settings::{DEV_PAY_CALLBACK_SECRET, Service, Settings};

/// The timings a system runs with: the scenarios wait for what they make happen.
#[derive(Debug, Clone)]
pub struct Timings {
    pub pay_timeout: Duration,
    pub abandon_after: Duration,
    pub outbox_retry_after: Duration,
    pub outbox_retry_max: Duration,
    pub stock_reconcile_interval: Duration,
    pub stock_reserve_timeout: Duration,
    pub mq_retry_schedule: String,
    pub mq_txn_check_after: Duration,
    pub mq_txn_check_interval: Duration,
    /// `SHOP_FAULTS`: whether `X-Shop-Fault` is honoured.
    pub faults: bool,
}

impl Timings {
    /// The defaults of docs/operations.md, "Settings" (a system started by `shop up`).
    pub fn defaults() -> Timings {
        let order = Settings::from_lookup(Service::Order, |_| None).expect("defaults parse");
        Timings {
            pay_timeout: order.order_pay_timeout,
            abandon_after: order.order_abandon_after,
            outbox_retry_after: order.outbox_retry_after,
            outbox_retry_max: order.outbox_retry_max,
            stock_reconcile_interval: order.stock_reconcile_interval,
            stock_reserve_timeout: order.stock_reserve_timeout,
            mq_retry_schedule: mq::config::DEFAULT_RETRY_SCHEDULE.into(),
            mq_txn_check_after: Duration::from_secs(6),
            mq_txn_check_interval: Duration::from_secs(30),
            faults: false,
        }
    }

    /// Short timeouts, so that every scenario runs in seconds; faults on.
    pub fn fast() -> Timings {
        Timings {
            pay_timeout: Duration::from_secs(10),
            abandon_after: Duration::from_secs(4),
            outbox_retry_after: Duration::from_millis(300),
            // Rows left behind while a broker was down go out within a second or so
            // of its return (broker-restart).
            outbox_retry_max: Duration::from_secs(1),
            stock_reconcile_interval: Duration::from_secs(1),
            stock_reserve_timeout: Duration::from_millis(500),
            mq_retry_schedule: "200ms 500ms 1s".into(),
            mq_txn_check_after: Duration::from_secs(1),
            mq_txn_check_interval: Duration::from_secs(1),
            faults: true,
        }
    }

    /// The environment every child gets (each reads its own part).
    pub fn env(&self) -> Vec<(String, String)> {
        let ms = |d: Duration| format!("{}ms", d.as_millis());
        let on_off = if self.faults { "on" } else { "off" };
        [
            ("ORDER_PAY_TIMEOUT", ms(self.pay_timeout)),
            ("ORDER_ABANDON_AFTER", ms(self.abandon_after)),
            ("OUTBOX_RETRY_AFTER", ms(self.outbox_retry_after)),
            ("OUTBOX_RETRY_MAX", ms(self.outbox_retry_max)),
            (
                "STOCK_RECONCILE_INTERVAL",
                ms(self.stock_reconcile_interval),
            ),
            ("STOCK_RESERVE_TIMEOUT", ms(self.stock_reserve_timeout)),
            ("MQ_RETRY_SCHEDULE", self.mq_retry_schedule.clone()),
            ("MQ_TXN_CHECK_AFTER", ms(self.mq_txn_check_after)),
            ("MQ_TXN_CHECK_INTERVAL", ms(self.mq_txn_check_interval)),
            ("SHOP_FAULTS", on_off.to_string()),
            ("PAY_CALLBACK_SECRET", DEV_PAY_CALLBACK_SECRET.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// How long compensation, consumers and relays may take to settle.
    pub fn settle(&self) -> Duration {
        Duration::from_secs(20) + self.outbox_retry_after * 4
    }

    /// The latest an `unconfirmed` order may still exist: the abandon deadline, one
    /// sweep (a quarter of it, at most 15 s) and a margin.
    pub fn abandon_deadline(&self) -> Duration {
        self.abandon_after
            + (self.abandon_after / 4).min(Duration::from_secs(15))
            + Duration::from_secs(2)
    }
}

/// The system under test.
#[derive(Debug, Clone)]
pub struct Target {
    /// Ports, schemas, MariaDB and Redis, as the launcher knows them.
    pub config: SystemConfig,
    pub timings: Timings,
    /// The secret pay-svc checks callbacks with.
    pub callback_secret: String,
}

impl Target {
    pub fn url(&self, service: Service) -> String {
        self.config.service_url(service)
    }

    /// The schema of `service` (`shop_<service><suffix>`).
    pub fn schema(&self, service: Service) -> String {
        format!("shop_{}{}", service.name(), self.config.schema_suffix)
    }

    /// The Redis key prefix of goods-svc's stock cache (fixed in the binaries).
    pub fn goods_redis_prefix(&self) -> String {
        Settings::from_lookup(Service::Goods, |_| None)
            .expect("defaults parse")
            .redis_prefix
    }
}
