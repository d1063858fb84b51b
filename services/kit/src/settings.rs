//! Settings from the environment, with the defaults of docs/operations.md, "Settings".
//!
//! Every service reads the same [`Settings`]; each uses the part it needs. The list of
//! variables each service reads ([`Service::env_vars`]) is what the launcher and the
//! docker-compose test rely on, so it lives here, next to the parsing.

use std::{fmt, net::SocketAddr, time::Duration};

/// The five services of Shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Order,
    Goods,
    Coupon,
    User,
    Pay,
}

impl Service {
    pub const ALL: [Service; 5] = [
        Service::Order,
        Service::Goods,
        Service::Coupon,
        Service::User,
        Service::Pay,
    ];

    /// Short name: `order`, `goods`, … (schema `shop_<name>`, folder `migrations/<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Service::Order => "order",
            Service::Goods => "goods",
            Service::Coupon => "coupon",
            Service::User => "user",
            Service::Pay => "pay",
        }
    }

    /// Binary (and crate, and docker-compose service) name: `order-svc`, …
    pub fn binary(self) -> &'static str {
        match self {
            Service::Order => "order-svc",
            Service::Goods => "goods-svc",
            Service::Coupon => "coupon-svc",
            Service::User => "user-svc",
            Service::Pay => "pay-svc",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Service::Order => 8081,
            Service::Goods => 8082,
            Service::Coupon => 8083,
            Service::User => 8084,
            Service::Pay => 8085,
        }
    }

    /// The variable that tells callers where this service is: `ORDER_SVC_URL`, …
    pub fn url_var(self) -> &'static str {
        match self {
            Service::Order => "ORDER_SVC_URL",
            Service::Goods => "GOODS_SVC_URL",
            Service::Coupon => "COUPON_SVC_URL",
            Service::User => "USER_SVC_URL",
            Service::Pay => "PAY_SVC_URL",
        }
    }

    pub fn default_url(self) -> String {
        format!("http://127.0.0.1:{}", self.default_port())
    }

    pub fn default_database_url(self) -> String {
        format!("mysql://root@127.0.0.1:3306/shop_{}", self.name())
    }

    /// Every environment variable this service reads (docs/operations.md, "Settings").
    pub fn env_vars(self) -> Vec<&'static str> {
        let mut vars = vec![
            "LISTEN_ADDR",
            "DATABASE_URL",
            "REDIS_URL",
            "MQ_ADDR",
            "SHOP_INTERNAL_TOKEN",
            // Read by the tracing set-up (crate::telemetry), not by Settings.
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_SERVICE_NAME",
        ];
        vars.extend(Service::ALL.iter().map(|s| s.url_var()));
        match self {
            Service::Order => vars.extend([
                "ORDER_PAY_TIMEOUT",
                "ORDER_ABANDON_AFTER",
                "SHOP_FAULTS",
                "OUTBOX_RETRY_AFTER",
                "OUTBOX_RETRY_MAX",
                "MQ_ADMIN_ADDR",
            ]),
            Service::Pay => vars.extend([
                "PAY_CALLBACK_SECRET",
                "SHOP_FAULTS",
                "OUTBOX_RETRY_AFTER",
                "OUTBOX_RETRY_MAX",
            ]),
            Service::Goods => vars.extend(["STOCK_RESERVE_TIMEOUT", "STOCK_RECONCILE_INTERVAL"]),
            Service::Coupon | Service::User => {}
        }
        vars
    }
}

/// A setting that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("setting {var}={value:?} is invalid: {reason}")]
pub struct SettingsError {
    pub var: &'static str,
    pub value: String,
    pub reason: String,
}

/// The dev secret used when `PAY_CALLBACK_SECRET` is not set (pay-svc logs a warning).
pub const DEV_PAY_CALLBACK_SECRET: &str = "shop-dev-callback-secret";

/// Settings of one service process, read from the environment; `Debug` shows every setting but the secrets
/// (`internal_token`, `pay_callback_secret`), which it redacts.
#[derive(Clone)]
pub struct Settings {
    pub service: Service,
    pub listen_addr: SocketAddr,
    pub database_url: String,
    pub redis_url: String,
    /// Prefix of every Redis key the service owns (`shop:<service>:`); not read from
    /// the environment, tests set their own.
    pub redis_prefix: String,
    pub mq_addr: String,
    /// The broker's admin HTTP address (order-svc reads message deliveries there).
    pub mq_admin_addr: String,
    pub order_svc_url: String,
    pub goods_svc_url: String,
    pub coupon_svc_url: String,
    pub user_svc_url: String,
    pub pay_svc_url: String,
    pub order_pay_timeout: Duration,
    pub order_abandon_after: Duration,
    /// `None` when `PAY_CALLBACK_SECRET` is unset: the dev secret applies.
    pub pay_callback_secret: Option<String>,
    pub faults_enabled: bool,
    /// `SHOP_INTERNAL_TOKEN`: the service credential. Callers send it as
    /// `Authorization: Bearer <token>` to `/internal/...` routes, which answer 401
    /// without it. Every service of one system must have the same one.
    pub internal_token: String,
    /// The token was not set and was generated for this process alone (a warning
    /// is logged: its internal endpoints then accept no other process).
    pub internal_token_generated: bool,
    /// `OUTBOX_RETRY_AFTER` (order, pay): how long a local message table row waits
    /// for its immediate send before the relay resends it; also the relay's poll
    /// interval and the first step of its doubling backoff.
    pub outbox_retry_after: Duration,
    /// `OUTBOX_RETRY_MAX` (order, pay): the longest the relay's doubling backoff waits
    /// between two resends of one row, so that rows left behind while the broker was
    /// down go out soon after it is back.
    pub outbox_retry_max: Duration,
    /// `STOCK_RESERVE_TIMEOUT` (goods): the longest a reservation may take from its
    /// Redis decrement to its journal commit; a rebuild of the Redis stock waits this
    /// long so that reservations in flight settle first. Keep it well below the
    /// broker's `MQ_TXN_CHECK_AFTER`.
    pub stock_reserve_timeout: Duration,
    /// `STOCK_RECONCILE_INTERVAL` (goods): how often the reconciler compares the Redis
    /// stock with MySQL and applies journals whose message is overdue.
    pub stock_reconcile_interval: Duration,
}

/// What `Debug` shows instead of a secret.
const REDACTED: &str = "<redacted>";

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every field by name, no `..`: a new field must be added here, and a new
        // secret redacted, before this compiles.
        let Settings {
            service,
            listen_addr,
            database_url,
            redis_url,
            redis_prefix,
            mq_addr,
            mq_admin_addr,
            order_svc_url,
            goods_svc_url,
            coupon_svc_url,
            user_svc_url,
            pay_svc_url,
            order_pay_timeout,
            order_abandon_after,
            pay_callback_secret,
            faults_enabled,
            internal_token: _,
            internal_token_generated,
            outbox_retry_after,
            outbox_retry_max,
            stock_reserve_timeout,
            stock_reconcile_interval,
        } = self;
        f.debug_struct("Settings")
            .field("service", service)
            .field("listen_addr", listen_addr)
            .field("database_url", database_url)
            .field("redis_url", redis_url)
            .field("redis_prefix", redis_prefix)
            .field("mq_addr", mq_addr)
            .field("mq_admin_addr", mq_admin_addr)
            .field("order_svc_url", order_svc_url)
            .field("goods_svc_url", goods_svc_url)
            .field("coupon_svc_url", coupon_svc_url)
            .field("user_svc_url", user_svc_url)
            .field("pay_svc_url", pay_svc_url)
            .field("order_pay_timeout", order_pay_timeout)
            .field("order_abandon_after", order_abandon_after)
            .field(
                "pay_callback_secret",
                &pay_callback_secret.as_ref().map(|_| REDACTED),
            )
            .field("faults_enabled", faults_enabled)
            .field("internal_token", &REDACTED)
            .field("internal_token_generated", internal_token_generated)
            .field("outbox_retry_after", outbox_retry_after)
            .field("outbox_retry_max", outbox_retry_max)
            .field("stock_reserve_timeout", stock_reserve_timeout)
            .field("stock_reconcile_interval", stock_reconcile_interval)
            .finish()
    }
}

impl Settings {
    /// Reads the settings of `service` from the process environment.
    pub fn from_env(service: Service) -> Result<Self, SettingsError> {
        Self::from_lookup(service, |var| std::env::var(var).ok())
    }

    /// Reads the settings of `service` through `lookup` (tests pass a map).
    pub fn from_lookup(
        service: Service,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        let string = |var: &str, default: String| lookup(var).unwrap_or(default);
        let duration = |var: &'static str, default: &str| -> Result<Duration, SettingsError> {
            let value = string(var, default.to_owned());
            parse_duration(&value).map_err(|reason| SettingsError { var, value, reason })
        };
        let listen = string("LISTEN_ADDR", format!("0.0.0.0:{}", service.default_port()));
        let listen_addr = listen.parse().map_err(|e| SettingsError {
            var: "LISTEN_ADDR",
            value: listen.clone(),
            reason: format!("{e}"),
        })?;
        let faults = string("SHOP_FAULTS", "off".into());
        let faults_enabled = match faults.as_str() {
            "on" => true,
            "off" => false,
            _ => {
                return Err(SettingsError {
                    var: "SHOP_FAULTS",
                    value: faults,
                    reason: "expected on or off".into(),
                });
            }
        };
        let url = |s: Service| string(s.url_var(), s.default_url());
        let given_token = lookup("SHOP_INTERNAL_TOKEN").filter(|t| !t.trim().is_empty());
        let internal_token_generated = given_token.is_none();
        let internal_token = given_token.unwrap_or_else(generate_internal_token);
        Ok(Settings {
            service,
            listen_addr,
            database_url: string("DATABASE_URL", service.default_database_url()),
            redis_url: string("REDIS_URL", "redis://127.0.0.1:6379".into()),
            redis_prefix: format!("shop:{}:", service.name()),
            mq_addr: string("MQ_ADDR", "127.0.0.1:9876".into()),
            mq_admin_addr: string("MQ_ADMIN_ADDR", "127.0.0.1:9877".into()),
            order_svc_url: url(Service::Order),
            goods_svc_url: url(Service::Goods),
            coupon_svc_url: url(Service::Coupon),
            user_svc_url: url(Service::User),
            pay_svc_url: url(Service::Pay),
            order_pay_timeout: duration("ORDER_PAY_TIMEOUT", "30m")?,
            order_abandon_after: duration("ORDER_ABANDON_AFTER", "60s")?,
            pay_callback_secret: lookup("PAY_CALLBACK_SECRET").filter(|s| !s.is_empty()),
            faults_enabled,
            internal_token,
            internal_token_generated,
            outbox_retry_after: duration("OUTBOX_RETRY_AFTER", "2s")?,
            outbox_retry_max: duration("OUTBOX_RETRY_MAX", "2m")?,
            stock_reserve_timeout: duration("STOCK_RESERVE_TIMEOUT", "2s")?,
            stock_reconcile_interval: duration("STOCK_RECONCILE_INTERVAL", "30s")?,
        })
    }

    /// The secret that signs payment callbacks.
    pub fn pay_callback_secret(&self) -> &str {
        self.pay_callback_secret
            .as_deref()
            .unwrap_or(DEV_PAY_CALLBACK_SECRET)
    }
}

/// A fresh random service credential (256 bits, hex), for a process or a launcher
/// that was given none.
pub fn generate_internal_token() -> String {
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    format!("{}{}", a.simple(), b.simple())
}

/// Parses durations as the settings are written: `30m`, `5s`, `1500ms`, `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn defaults_follow_api_md() {
        let s = Settings::from_lookup(Service::Goods, |_| None).unwrap();
        assert_eq!(s.listen_addr.to_string(), "0.0.0.0:8082");
        assert_eq!(s.database_url, "mysql://root@127.0.0.1:3306/shop_goods");
        assert_eq!(s.order_pay_timeout, Duration::from_secs(30 * 60));
        assert_eq!(s.order_abandon_after, Duration::from_secs(60));
        assert_eq!(s.user_svc_url, "http://127.0.0.1:8084");
        assert!(!s.faults_enabled);
        assert_eq!(s.pay_callback_secret(), DEV_PAY_CALLBACK_SECRET);
        assert!(s.internal_token_generated);
        assert_eq!(s.internal_token.len(), 64);
        let other = Settings::from_lookup(Service::Goods, |_| None).unwrap();
        assert_ne!(s.internal_token, other.internal_token, "generated afresh");
    }

    #[test]
    fn debug_output_redacts_the_internal_token_and_the_callback_secret() {
        let env: HashMap<&str, &str> = [
            ("SHOP_INTERNAL_TOKEN", "t0ken-that-must-not-show"),
            ("PAY_CALLBACK_SECRET", "secret-that-must-not-show"),
        ]
        .into_iter()
        .collect();
        let s = Settings::from_lookup(Service::Pay, |v| env.get(v).map(|s| s.to_string())).unwrap();
        for text in [format!("{s:?}"), format!("{s:#?}")] {
            assert!(!text.contains("t0ken-that-must-not-show"), "{text}");
            assert!(!text.contains("secret-that-must-not-show"), "{text}");
            assert_eq!(text.matches("<redacted>").count(), 2, "{text}");
            assert!(
                text.contains("database_url"),
                "the other settings show: {text}"
            );
        }
        let text = format!("{s:?}");
        assert!(text.contains("internal_token: \"<redacted>\""), "{text}");
        assert!(
            text.contains("pay_callback_secret: Some(\"<redacted>\")"),
            "{text}"
        );
        let unset = Settings::from_lookup(Service::Pay, |_| None).unwrap();
        assert!(format!("{unset:?}").contains("pay_callback_secret: None"));
        assert!(!format!("{unset:?}").contains(&unset.internal_token));
    }

    #[test]
    fn the_internal_token_is_read_from_the_environment() {
        let s = Settings::from_lookup(Service::User, |v| {
            (v == "SHOP_INTERNAL_TOKEN").then(|| "t0ken".to_string())
        })
        .unwrap();
        assert_eq!(s.internal_token, "t0ken");
        assert!(!s.internal_token_generated);
        assert!(Service::User.env_vars().contains(&"SHOP_INTERNAL_TOKEN"));
    }

    #[test]
    fn environment_overrides_defaults_and_bad_values_name_the_variable() {
        let env: HashMap<&str, &str> = [("ORDER_PAY_TIMEOUT", "1500ms"), ("SHOP_FAULTS", "on")]
            .into_iter()
            .collect();
        let s =
            Settings::from_lookup(Service::Order, |v| env.get(v).map(|s| s.to_string())).unwrap();
        assert_eq!(s.order_pay_timeout, Duration::from_millis(1500));
        assert!(s.faults_enabled);

        let err = Settings::from_lookup(Service::Order, |v| {
            (v == "ORDER_ABANDON_AFTER").then(|| "soon".to_string())
        })
        .unwrap_err();
        assert_eq!(err.var, "ORDER_ABANDON_AFTER");
    }
}
