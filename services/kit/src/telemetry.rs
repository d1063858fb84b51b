//! Tracing set-up: human-readable lines on stderr, filtered by `RUST_LOG`.
//!
//! Each request runs in a span carrying its `request_id` (see [`crate::http::observe`]),
//! so every line logged while handling it names the request. Tests stay quiet unless
//! `TEST_LOG` is set.

use std::{io::IsTerminal, sync::Once};

use tracing_subscriber::{EnvFilter, fmt};

const DEFAULT_FILTER: &str = "info,sqlx=warn,hyper=warn,tower_http=warn";

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER))
}

/// For a service's `main`: logs to stderr at `RUST_LOG` (default `info`).
pub fn init() {
    // A second call (or another subscriber) is not an error worth stopping for.
    let _ = fmt()
        .with_env_filter(filter())
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// For tests: silent unless `TEST_LOG` is set; safe to call from every test.
pub fn init_for_tests() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = fmt()
                .with_env_filter(filter())
                .with_test_writer()
                .try_init();
        }
    });
}
