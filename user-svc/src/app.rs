//! The user-svc application: state, router and background tasks on the shared runtime
//! (the `order`/`cancel`, `pay`/`paid` and `pay`/`refund` consumers).

use shop_kit::{
    consumer_log::{Subscription, spawn_consumer},
    contracts::{
        order::{CANCEL_TAG, ORDER_TOPIC},
        pay::{PAID_TAG, PAY_TOPIC, REFUND_TAG},
    },
    server::{Runtime, Server, ShopApp},
};

use crate::{
    consumers::{order_cancel, pay_paid, pay_refund},
    http,
    settings::{SERVICE, Settings},
};

/// What handlers share.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: shop_kit::db::Database,
}

/// user-svc, bound and ready to run.
pub struct App {
    server: Server,
}

impl App {
    /// Sets up the database (migrated in the background), starts the consumers, binds
    /// `LISTEN_ADDR`.
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        let mut runtime = Runtime::start(settings)?;
        spawn_consumer(
            &mut runtime,
            Subscription::new(order_cancel::GROUP, ORDER_TOPIC, CANCEL_TAG),
            order_cancel::RefundOnCancel,
        );
        spawn_consumer(
            &mut runtime,
            Subscription::new(pay_paid::GROUP, PAY_TOPIC, PAID_TAG),
            pay_paid::EarnPoints,
        );
        spawn_consumer(
            &mut runtime,
            Subscription::new(pay_refund::GROUP, PAY_TOPIC, REFUND_TAG),
            pay_refund::RevokePoints,
        );
        let state = AppState {
            db: runtime.db.clone(),
        };
        let server = Server::bind(runtime, http::router(state), http::openapi()).await?;
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
