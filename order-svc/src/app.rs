//! The order-svc application: state, router and background tasks on the shared
//! runtime (the outbox relay, the abandon sweep, the `order`/`cancel`,
//! `order`/`timeout` and `pay`/`paid` consumers).

use shop_kit::{
    clients::{BrokerAdminClient, CouponClient, GoodsClient, PayClient, UserClient},
    consumer_log::{Subscription, spawn_consumer},
    contracts::{
        order::{CANCEL_TAG, ORDER_TOPIC, TIMEOUT_TAG},
        pay::{PAID_TAG, PAY_TOPIC},
    },
    http::internal::InternalToken,
    outbox::Outbox,
    server::{Runtime, Server, ShopApp},
};

use crate::{
    consumers::{order_cancel, order_timeout, pay_paid},
    domain::{abandon, confirm::Confirmer, timeline::TimelineSources},
    http,
    settings::{SERVICE, Settings},
};

/// The producer group of order-svc's local message table.
pub const PRODUCER_GROUP: &str = "order-svc";

/// What handlers share.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: shop_kit::db::Database,
    pub confirmer: Confirmer,
    pub timeline: TimelineSources,
    /// `SHOP_FAULTS=on`: honour `X-Shop-Fault`.
    pub faults_enabled: bool,
    /// The service credential: a caller presenting it is told the order's trace.
    pub services: InternalToken,
}

/// order-svc, bound and ready to run.
pub struct App {
    server: Server,
}

impl App {
    /// Sets up the database (migrated in the background), starts the relay, the sweep
    /// and the consumers, binds `LISTEN_ADDR`.
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        let mut runtime = Runtime::start(settings)?;
        let s = runtime.settings.clone();
        let outbox = Outbox::start(&mut runtime, PRODUCER_GROUP);
        let shutdown = runtime.shutdown.clone();
        runtime.spawn_task(
            "abandon sweep",
            abandon::run(
                runtime.db.clone(),
                outbox.clone(),
                s.order_abandon_after,
                shutdown,
            ),
        );
        spawn_consumer(
            &mut runtime,
            Subscription::new(order_cancel::GROUP, ORDER_TOPIC, CANCEL_TAG),
            order_cancel::CancelOrder,
        );
        let cancel_unpaid = order_timeout::CancelUnpaid {
            outbox: outbox.clone(),
        };
        spawn_consumer(
            &mut runtime,
            Subscription::new(order_timeout::GROUP, ORDER_TOPIC, TIMEOUT_TAG),
            cancel_unpaid,
        );
        spawn_consumer(
            &mut runtime,
            Subscription::new(pay_paid::GROUP, PAY_TOPIC, PAID_TAG),
            pay_paid::ApplyPayment {
                outbox: outbox.clone(),
            },
        );
        let confirmer = Confirmer {
            db: runtime.db.clone(),
            outbox,
            users: UserClient::from_settings(&s),
            goods: GoodsClient::from_settings(&s),
            coupons: CouponClient::from_settings(&s),
            pay_timeout: s.order_pay_timeout,
        };
        let timeline = TimelineSources {
            db: runtime.db.clone(),
            goods: GoodsClient::from_settings(&s),
            coupons: CouponClient::from_settings(&s),
            users: UserClient::from_settings(&s),
            pay: PayClient::from_settings(&s),
            broker: BrokerAdminClient::new(&s.mq_admin_addr),
        };
        let state = AppState {
            db: runtime.db.clone(),
            confirmer,
            timeline,
            faults_enabled: s.faults_enabled,
            services: InternalToken::new(&s.internal_token),
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
