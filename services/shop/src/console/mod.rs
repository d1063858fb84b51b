//! The console: a web page served by Shop itself (`shop console`, and `shop up`
//! beside the system) showing the broker — topics with produce and consume rates,
//! groups with lag per queue and members, message search with delivery history, dead
//! letters with resend, pending half and delayed messages — and the shop — services
//! and their health, recent orders, an order's timeline drawn as lanes, the audit.
//!
//! The page, its script and its style are compiled into the binary; the browser
//! talks only to this server, whose `/api` routes ask the broker's admin API, the
//! services and the audit (see [`api`]). Pages refresh themselves every 2 s.

mod api;

use std::net::SocketAddr;

use anyhow::Context;
use axum::{
    Router,
    http::header,
    response::IntoResponse,
    routing::{get, post},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::target::Target;

/// Default address of `shop console` (`SHOP_CONSOLE_ADDR`).
pub const DEFAULT_ADDR: &str = "127.0.0.1:9880";

const INDEX_HTML: &str = include_str!("../../console/index.html");
const CONSOLE_JS: &str = include_str!("../../console/console.js");
const CONSOLE_CSS: &str = include_str!("../../console/console.css");

/// The console's routes for the system at `target`.
pub fn router(target: Target) -> Router {
    let state = api::ConsoleState::new(target);
    Router::new()
        .route(
            "/",
            get(|| async { page(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/console.js",
            get(|| async { page(CONSOLE_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/console.css",
            get(|| async { page(CONSOLE_CSS, "text/css; charset=utf-8") }),
        )
        .route("/api/services", get(api::services))
        .route("/api/orders", get(api::recent_orders))
        .route("/api/orders/{order_id}/timeline", get(api::timeline))
        .route("/api/audit", get(api::audit))
        .route("/api/broker/{*path}", get(api::broker_get))
        .route(
            "/api/broker/dlq/{group}/{id}/resend",
            post(api::broker_resend),
        )
        .with_state(state)
}

fn page(body: &'static str, content_type: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type)], body)
}

/// The console bound to an address, ready to serve.
pub struct Console {
    listener: TcpListener,
    router: Router,
}

impl Console {
    /// Binds `addr` (port 0 works) for the system at `target`.
    pub async fn bind(addr: &str, target: Target) -> anyhow::Result<Console> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the console to {addr}"))?;
        Ok(Console {
            listener,
            router: router(target),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// `http://host:port/`.
    pub fn url(&self) -> String {
        format!("{}/", shop_kit::server::base_url(self.local_addr()))
    }

    /// Serves until `stop` is cancelled.
    pub async fn serve(self, stop: CancellationToken) -> anyhow::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
            .context("serving the console")
    }
}
