//! The goods-svc application: state, router and background tasks (the `stock`/`deduct`
//! and `order`/`cancel` consumers, the stock reconciler) on the shared runtime.

use shop_kit::{
    consumer_log::{Subscription, spawn_consumer},
    contracts::{
        goods::{DEDUCT_TAG, STOCK_TOPIC},
        order::{CANCEL_TAG, ORDER_TOPIC},
    },
    server::{Runtime, Server, ShopApp},
};

use crate::{
    consumers::{order_cancel, stock_deduct},
    http,
    settings::{SERVICE, Settings},
    stock::{Stock, publisher::JournalPublisher, reconciler},
};

/// What handlers share.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: shop_kit::db::Database,
    /// The Redis cache of available stock.
    pub cache: shop_kit::cache::Cache,
    /// Reservations and the cache rebuild.
    pub stock: Stock,
}

/// goods-svc, bound and ready to run.
pub struct App {
    server: Server,
}

impl App {
    /// Sets up the database (migrated in the background) and Redis, starts the
    /// consumers and the reconciler, binds `LISTEN_ADDR`.
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        let mut runtime = Runtime::start(settings)?;
        let stock = Stock::new(
            runtime.db.clone(),
            runtime.cache.clone(),
            JournalPublisher::new(&runtime.bus, runtime.db.clone()),
            runtime.settings.stock_reserve_timeout,
        );
        spawn_consumer(
            &mut runtime,
            Subscription::new(stock_deduct::GROUP, STOCK_TOPIC, DEDUCT_TAG),
            stock_deduct::ApplyJournal,
        );
        let return_stock = order_cancel::ReturnStockOnCancel {
            db: runtime.db.clone(),
            cache: runtime.cache.clone(),
        };
        spawn_consumer(
            &mut runtime,
            Subscription::new(order_cancel::GROUP, ORDER_TOPIC, CANCEL_TAG),
            return_stock,
        );
        let connect = stock.publisher.clone();
        let stop = runtime.shutdown.clone();
        runtime.spawn_task("check-back responder", async move {
            // Answer check-backs of halves an earlier run left, before any reservation.
            let mut delay = std::time::Duration::from_millis(100);
            while let Err(error) = connect.connect().await {
                tracing::debug!(%error, "transactional producer not connected yet; retrying");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(std::time::Duration::from_secs(2));
            }
            tracing::info!("transactional producer connected; answering check-backs");
        });
        let interval = runtime.settings.stock_reconcile_interval;
        let shutdown = runtime.shutdown.clone();
        runtime.spawn_task(
            "stock reconciler",
            reconciler::run(stock.clone(), interval, shutdown),
        );
        let state = AppState {
            db: runtime.db.clone(),
            cache: runtime.cache.clone(),
            stock,
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
