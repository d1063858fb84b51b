//! The runtime every service is built on: [`Runtime`] (settings, database, Redis,
//! shutdown token, background tasks) and [`Server`] (the bound listener and the
//! router with the shared endpoints and middleware), plus [`ShopApp`], the shape of
//! each service's `App` that `main` and the tests rely on.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{Router, middleware, response::IntoResponse, routing::get};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{
    bus::Bus,
    cache::Cache,
    db::Database,
    error::error_response,
    http::{
        health::{HealthProbe, health},
        internal::{InternalToken, require_internal_token},
        metrics::{MetricsProbe, metrics},
        observe::observe,
        openapi::{document, openapi_json},
    },
    settings::{Service, Settings},
};

/// How long background tasks get to finish after the server stopped.
const TASK_GRACE: Duration = Duration::from_secs(10);

/// What a service runs on: its settings, database, Redis, and the shutdown signal its
/// background tasks watch.
pub struct Runtime {
    pub settings: Settings,
    pub db: Database,
    pub cache: Cache,
    /// The message bus (`SHOP_BUS`).
    pub bus: Bus,
    pub shutdown: CancellationToken,
    tasks: Vec<(String, JoinHandle<()>)>,
}

impl Runtime {
    /// Sets up the database (lazily, with migrations retried in the background), Redis
    /// and the message bus (lazily). Nothing here waits on MariaDB, Redis or the broker
    /// being up.
    pub fn start(settings: Settings) -> anyhow::Result<Runtime> {
        let service = settings.service;
        if settings.internal_token_generated {
            tracing::warn!(
                "SHOP_INTERNAL_TOKEN is not set: generated one for this process alone, so \
                 no other service can call its internal endpoints and its own internal calls \
                 are refused; give every service the same SHOP_INTERNAL_TOKEN (the launcher \
                 and docker compose do)"
            );
        }
        let db = Database::connect_lazy(&settings.database_url)
            .context("setting up the database pool")?;
        let cache = Cache::connect_lazy(&settings.redis_url, &settings.redis_prefix)
            .context("setting up Redis")?;
        let bus = Bus::from_env(&settings.mq_addr).context("setting up the message bus")?;
        let shutdown = CancellationToken::new();
        let mut runtime = Runtime {
            settings,
            db,
            cache,
            bus,
            shutdown,
            tasks: Vec::new(),
        };
        let migrations = runtime
            .db
            .spawn_migrations(service, runtime.shutdown.clone());
        runtime.tasks.push(("migrations".into(), migrations));
        Ok(runtime)
    }

    pub fn service(&self) -> Service {
        self.settings.service
    }

    /// Runs a background task (consumer, relay, reconciler) until it ends; it must
    /// end soon after [`Runtime::shutdown`] is cancelled.
    pub fn spawn_task<F>(&mut self, name: impl Into<String>, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let name = name.into();
        tracing::debug!(task = %name, "background task started");
        self.tasks.push((name, tokio::spawn(task)));
    }
}

/// A service's HTTP server, bound and ready to run.
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    router: Router,
    runtime: Runtime,
}

impl Server {
    /// Binds `LISTEN_ADDR` (port 0 works) and adds to `api` the shared endpoints
    /// (`/health`, `/metrics`, `/openapi.json`), the JSON 404 fallback, the
    /// request-id/tracing/metrics middleware and the service credential every
    /// `/internal/...` route requires. `openapi` documents `api`.
    pub async fn bind(
        runtime: Runtime,
        api: Router,
        openapi: utoipa::openapi::OpenApi,
    ) -> anyhow::Result<Server> {
        let service = runtime.service();
        let listener = TcpListener::bind(runtime.settings.listen_addr)
            .await
            .with_context(|| format!("binding {}", runtime.settings.listen_addr))?;
        let addr = listener.local_addr()?;
        mq::metrics::install(); // the process-wide recorder, before the first request

        let probe = HealthProbe {
            db: runtime.db.clone(),
            cache: runtime.cache.clone(),
            bus: runtime.bus.clone(),
        };
        let doc = Arc::new(document(service, openapi));
        let router = api
            .merge(
                Router::new()
                    .route("/health", get(health))
                    .with_state(probe),
            )
            .merge(
                Router::new()
                    .route("/openapi.json", get(openapi_json))
                    .with_state(doc),
            )
            .merge(
                Router::new()
                    .route("/metrics", get(metrics))
                    .with_state(MetricsProbe {
                        service: service.binary(),
                        db: runtime.db.clone(),
                    }),
            )
            .fallback(not_found)
            .layer(middleware::from_fn_with_state(
                InternalToken::new(&runtime.settings.internal_token),
                require_internal_token,
            ))
            .layer(middleware::from_fn_with_state(service.binary(), observe));
        tracing::info!(service = service.binary(), %addr, "listening");
        Ok(Server {
            listener,
            addr,
            router,
            runtime,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>` (or the bound host when it is not the wildcard).
    pub fn base_url(&self) -> String {
        base_url(self.addr)
    }

    /// Cancelled when the server stops; give it to what should stop with it.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.runtime.shutdown.clone()
    }

    /// Serves until SIGTERM or ctrl-c, then stops gracefully.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` completes (or the shutdown token is cancelled), lets
    /// in-flight requests finish, then stops the background tasks.
    pub async fn run_until<F>(self, stop: F) -> anyhow::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Server {
            listener,
            router,
            runtime,
            ..
        } = self;
        let token = runtime.shutdown.clone();
        let signal = {
            let token = token.clone();
            async move {
                tokio::select! {
                    _ = stop => {}
                    _ = token.cancelled() => {}
                }
                tracing::info!("shutting down: finishing in-flight requests");
            }
        };
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(signal)
            .await;
        token.cancel();
        for (name, task) in runtime.tasks {
            match tokio::time::timeout(TASK_GRACE, task).await {
                Ok(Ok(())) => tracing::debug!(task = %name, "background task ended"),
                Ok(Err(error)) => tracing::error!(task = %name, %error, "background task failed"),
                Err(_) => tracing::warn!(task = %name, "background task did not stop in time"),
            }
        }
        served.context("serving HTTP")
    }
}

/// `http://host:port` for a bound address, with the wildcard host replaced by loopback.
pub fn base_url(addr: SocketAddr) -> String {
    let host = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        ip if ip.is_ipv6() => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("http://{host}:{}", addr.port())
}

async fn not_found() -> impl IntoResponse {
    error_response(
        axum::http::StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "no such endpoint; see /openapi.json",
    )
}

/// Completes on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("ctrl-c received"),
        _ = terminate => tracing::info!("SIGTERM received"),
    }
}

/// The shape of each service's `App`: built from settings (binding the listener),
/// telling its address, run until a stop signal.
pub trait ShopApp: Sized + Send + 'static {
    /// Which service this is.
    const SERVICE: Service;

    /// Builds the app: database, Redis, routes, background tasks; binds the listener.
    fn build(settings: Settings) -> impl Future<Output = anyhow::Result<Self>> + Send;

    /// The server (address, shutdown token, run).
    fn into_server(self) -> Server;
}

/// What a service's `main` does: tracing (and trace export, when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set), settings from the environment, build, run
/// until SIGTERM/ctrl-c, then flush the spans not exported yet.
pub async fn run_main<A: ShopApp>() -> anyhow::Result<()> {
    let _telemetry = crate::telemetry::init(A::SERVICE);
    let settings = Settings::from_env(A::SERVICE).context("reading settings")?;
    let app = A::build(settings)
        .await
        .with_context(|| format!("starting {}", A::SERVICE.binary()))?;
    app.into_server().run_until_stopped().await
}
