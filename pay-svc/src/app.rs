//! The pay-svc application: state, router and background tasks on the shared runtime
//! (the sender and the relay of the local message table, the refund relay, the
//! `pay`/`paid` and `pay`/`refund` consumers). Refunds go through the development
//! payment platform ([`crate::platform::dev`]).

use std::sync::Arc;

use shop_kit::{
    clients::OrderClient,
    consumer_log::{Subscription, spawn_consumer},
    contracts::pay::{PAID_TAG, PAY_TOPIC, REFUND_TAG},
    outbox::Outbox,
    server::{Runtime, Server, ShopApp},
};
use tokio_util::sync::CancellationToken;

use crate::{
    consumers::{pay_paid, pay_refund},
    domain::refund::Refunds,
    http,
    platform::dev::DevPlatform,
    settings::{SERVICE, Settings},
};

/// The producer group of pay-svc's local message table.
pub const PRODUCER_GROUP: &str = "pay-svc";

/// What handlers share; `Debug` redacts the callback secret.
#[derive(Clone)]
pub struct AppState {
    pub db: shop_kit::db::Database,
    pub outbox: Outbox,
    pub orders: OrderClient,
    /// Makes refunds through the payment-platform port.
    pub refunds: Refunds,
    /// `PAY_CALLBACK_SECRET` (or the development secret).
    pub callback_secret: String,
    /// `SHOP_FAULTS=on`: honour `X-Shop-Fault`.
    pub faults_enabled: bool,
    /// The service's shutdown, for the `crash-after-commit` fault.
    pub shutdown: CancellationToken,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let AppState {
            db,
            outbox,
            orders,
            refunds,
            callback_secret: _,
            faults_enabled,
            shutdown,
        } = self;
        f.debug_struct("AppState")
            .field("db", db)
            .field("outbox", outbox)
            .field("orders", orders)
            .field("refunds", refunds)
            .field("callback_secret", &"<redacted>")
            .field("faults_enabled", faults_enabled)
            .field("shutdown", shutdown)
            .finish()
    }
}

/// pay-svc, bound and ready to run.
pub struct App {
    server: Server,
}

impl App {
    /// Sets up the database (migrated in the background), starts the relay and the
    /// consumers, binds `LISTEN_ADDR`.
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        if settings.pay_callback_secret.is_none() {
            tracing::warn!("PAY_CALLBACK_SECRET is not set: using the development secret");
        }
        let mut runtime = Runtime::start(settings)?;
        let s = runtime.settings.clone();
        let outbox = Outbox::start(&mut runtime, PRODUCER_GROUP);
        let shutdown = runtime.shutdown.clone();
        let refunds = Refunds {
            db: runtime.db.clone(),
            platform: Arc::new(DevPlatform::new(runtime.db.clone())),
        };
        runtime.spawn_task(
            "refund relay",
            refunds
                .clone()
                .relay(s.outbox_retry_after, shutdown.clone()),
        );
        spawn_consumer(
            &mut runtime,
            Subscription::new(pay_paid::GROUP, PAY_TOPIC, PAID_TAG),
            pay_paid::LogPaid,
        );
        spawn_consumer(
            &mut runtime,
            Subscription::new(pay_refund::GROUP, PAY_TOPIC, REFUND_TAG),
            pay_refund::RefundPayment {
                refunds: refunds.clone(),
            },
        );
        let state = AppState {
            db: runtime.db.clone(),
            outbox,
            orders: OrderClient::from_settings(&s),
            refunds,
            callback_secret: s.pay_callback_secret().to_owned(),
            faults_enabled: s.faults_enabled,
            shutdown,
        };
        let mut openapi = http::openapi();
        if !s.faults_enabled {
            // The fault header is ignored then: not part of this run's API.
            shop_kit::http::openapi::remove_header(
                &mut openapi,
                crate::domain::faults::FAULT_HEADER,
            );
        }
        let server = Server::bind(runtime, http::router(state), openapi).await?;
        Ok(App { server })
    }

    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.server.local_addr()
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.run_until_stopped().await
    }
}

impl ShopApp for App {
    const SERVICE: shop_kit::settings::Service = SERVICE;

    async fn build(settings: Settings) -> anyhow::Result<Self> {
        App::build(settings).await
    }

    fn into_server(self) -> Server {
        self.server
    }
}
