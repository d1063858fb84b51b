//! The coupon-svc application: state, router and background tasks on the shared runtime.

use shop_kit::{
    clients::UserClient,
    consumer_log::{Subscription, spawn_consumer},
    contracts::order::{CANCEL_TAG, ORDER_TOPIC},
    server::{Runtime, Server, ShopApp},
};

use crate::{
    consumers::order_cancel,
    http,
    settings::{SERVICE, Settings},
};

/// What handlers share.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: shop_kit::db::Database,
    /// user-svc, to check that a coupon's owner exists.
    pub users: UserClient,
}

/// coupon-svc, bound and ready to run.
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
            order_cancel::ReleaseOnCancel,
        );
        let state = AppState {
            db: runtime.db.clone(),
            users: UserClient::from_settings(&runtime.settings),
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
