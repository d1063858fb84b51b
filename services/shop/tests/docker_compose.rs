//! No Docker engine runs where the tests run, so docker-compose.yml and the Dockerfile
//! are checked by reading them: every service's command, ports, health check and
//! environment must agree with what its binary reads (`shop_kit::settings`) and with
//! docs/operations.md, and the image must carry every binary of the workspace.

use std::{collections::BTreeMap, path::PathBuf};

use serde_yaml_ng::Value;
use shop_kit::settings::{Service, Settings};

fn repo_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn compose() -> Value {
    let mut doc: Value = serde_yaml_ng::from_str(&repo_file("docker-compose.yml")).unwrap();
    doc.apply_merge().unwrap();
    doc
}

fn service<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["services"]
        .get(name)
        .unwrap_or_else(|| panic!("docker-compose.yml has no service {name}"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|seq| {
            seq.iter()
                .map(|v| v.as_str().expect("a string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn environment(svc: &Value) -> BTreeMap<String, String> {
    let map = svc["environment"]
        .as_mapping()
        .expect("environment is a mapping");
    map.iter()
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => panic!("unexpected value {other:?} for {k:?}"),
            };
            (k.as_str().unwrap().to_string(), value)
        })
        .collect()
}

/// `${VAR:-default}` as compose expands it when VAR is unset.
fn expand_default(value: &str) -> String {
    match value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
        Some(inner) => inner.split_once(":-").map(|(_, d)| d).unwrap_or("").into(),
        None => value.to_string(),
    }
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{addr} has no port"))
}

fn assert_healthy_dependencies(name: &str, svc: &Value, on: &[&str]) {
    for dependency in on {
        let condition = &svc["depends_on"][*dependency]["condition"];
        assert_eq!(
            condition.as_str(),
            Some("service_healthy"),
            "{name} must depend on {dependency} being healthy"
        );
    }
}

#[test]
fn every_service_runs_its_binary_on_its_port_with_the_settings_it_reads() {
    let doc = compose();
    let broker_listen = environment(service(&doc, "mq-broker"))["MQ_LISTEN"].clone();
    for s in Service::ALL {
        let name = s.binary();
        let svc = service(&doc, name);
        assert_eq!(strings(&svc["command"]), vec![name.to_string()], "{name}");
        assert!(
            svc["build"].as_str() == Some(".") && svc["image"].as_str().is_some(),
            "{name} builds the repository's image"
        );
        let port = s.default_port();
        assert!(
            strings(&svc["ports"]).contains(&format!("{port}:{port}")),
            "{name} publishes {port}"
        );

        let env = environment(svc);
        let mut expected: Vec<&str> = s.env_vars();
        expected.push("RUST_LOG");
        expected.sort();
        let mut set: Vec<&str> = env.keys().map(String::as_str).collect();
        set.sort();
        assert_eq!(set, expected, "{name} sets exactly the variables it reads");

        // The binary's own parser accepts the file's values.
        let settings = Settings::from_lookup(s, |var| env.get(var).map(|v| expand_default(v)))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(settings.listen_addr.port(), port, "{name} LISTEN_ADDR");
        assert_eq!(
            settings.database_url,
            format!("mysql://root@mariadb:3306/shop_{}", s.name()),
            "{name} DATABASE_URL names its own schema on the mariadb service"
        );
        assert_eq!(settings.redis_url, "redis://redis:6379", "{name}");
        assert_eq!(
            settings.mq_addr,
            format!("mq-broker:{}", port_of(&broker_listen)),
            "{name} MQ_ADDR"
        );
        for other in Service::ALL {
            assert_eq!(
                env[other.url_var()],
                format!("http://{}:{}", other.binary(), other.default_port()),
                "{name} {}",
                other.url_var()
            );
        }

        let health = strings(&svc["healthcheck"]["test"]).join(" ");
        assert!(
            health.contains(&format!("http://127.0.0.1:{port}/health")),
            "{name} health check calls its /health: {health}"
        );
        assert_healthy_dependencies(name, svc, &["mariadb", "redis", "mq-broker"]);
    }
}

#[test]
fn order_and_pay_settings_keep_the_defaults_of_api_md() {
    let doc = compose();
    let order = environment(service(&doc, "order-svc"));
    let lookup = |var: &str| order.get(var).cloned();
    let settings = Settings::from_lookup(Service::Order, lookup).unwrap();
    let defaults = Settings::from_lookup(Service::Order, |_| None).unwrap();
    assert_eq!(settings.order_pay_timeout, defaults.order_pay_timeout);
    assert_eq!(settings.order_abandon_after, defaults.order_abandon_after);
    assert!(!settings.faults_enabled, "faults are off in compose");

    let pay = environment(service(&doc, "pay-svc"));
    assert!(
        pay["PAY_CALLBACK_SECRET"].starts_with("${PAY_CALLBACK_SECRET"),
        "the callback secret comes from the user's environment"
    );
}

#[test]
fn every_service_gets_the_same_internal_token_from_the_users_environment() {
    let doc = compose();
    let tokens: Vec<String> = Service::ALL
        .iter()
        .map(|s| environment(service(&doc, s.binary()))["SHOP_INTERNAL_TOKEN"].clone())
        .collect();
    assert!(
        tokens[0].starts_with("${SHOP_INTERNAL_TOKEN:-"),
        "the token comes from the user's environment: {}",
        tokens[0]
    );
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "one token for all: {tokens:?}"
    );
    let settings = Settings::from_lookup(Service::Order, |var| {
        (var == "SHOP_INTERNAL_TOKEN").then(|| expand_default(&tokens[0]))
    })
    .unwrap();
    assert!(!settings.internal_token_generated, "compose sets a token");
}

/// Every `MQ_*` variable the broker reads, from its settings code (mq/src/config.rs).
fn broker_variables() -> Vec<String> {
    let code = repo_file("mq/src/config.rs");
    let mut vars: Vec<String> = code
        .split("var(\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|name| name.starts_with("MQ_"))
        .map(String::from)
        .collect();
    vars.sort();
    vars.dedup();
    vars
}

#[test]
fn the_broker_sets_every_variable_it_reads_with_values_its_parsers_accept() {
    let doc = compose();
    let env = environment(service(&doc, "mq-broker"));
    let read = broker_variables();
    assert!(read.len() >= 18, "found the broker's variables: {read:?}");
    let mut set: Vec<String> = env.keys().filter(|k| *k != "RUST_LOG").cloned().collect();
    set.sort();
    assert_eq!(set, read, "the broker sets exactly the variables it reads");
    assert!(env.contains_key("RUST_LOG"));

    for (var, value) in &env {
        let parsed = match var.as_str() {
            "MQ_DELAY_LEVELS" | "MQ_RETRY_SCHEDULE" => mq::config::parse_schedule(value).map(drop),
            "MQ_SEGMENT_SIZE" | "MQ_MAX_FRAME" => mq::config::parse_size(value).map(drop),
            "MQ_MAX_CONNECTIONS" | "MQ_DEFAULT_QUEUES" | "MQ_TXN_CHECK_MAX" => {
                assert!(value.parse::<u32>().is_ok(), "{var}={value}");
                Ok(())
            }
            v if v.ends_with("_AFTER")
                || v.ends_with("_INTERVAL")
                || v.ends_with("_TIMEOUT")
                || v == "MQ_RETENTION" =>
            {
                mq::config::parse_duration(value).map(drop)
            }
            "MQ_FLUSH" => {
                assert!(["sync", "async"].contains(&value.as_str()), "{var}={value}");
                Ok(())
            }
            "MQ_RECOVERY" => {
                assert!(
                    ["strict", "truncate"].contains(&value.as_str()),
                    "{var}={value}"
                );
                Ok(())
            }
            _ => Ok(()),
        };
        assert!(parsed.is_ok(), "{var}={value}: {parsed:?}");
    }
    assert_eq!(
        env["MQ_FLUSH"], "sync",
        "acknowledged means fsynced (docs/architecture.md, The broker)"
    );
    assert_eq!(env["MQ_RETRY_SCHEDULE"], mq::config::DEFAULT_RETRY_SCHEDULE);
    assert_eq!(env["MQ_DELAY_LEVELS"], mq::config::DEFAULT_DELAY_LEVELS);
}

#[test]
fn every_built_process_restarts_unless_stopped() {
    let doc = compose();
    for (name, svc) in doc["services"].as_mapping().unwrap() {
        if svc["build"].as_str().is_some() {
            assert_eq!(svc["restart"].as_str(), Some("unless-stopped"), "{name:?}");
        }
    }
}

#[test]
fn the_broker_keeps_its_data_on_a_volume_and_publishes_both_ports() {
    let doc = compose();
    let broker = service(&doc, "mq-broker");
    assert_eq!(strings(&broker["command"]), vec!["mq-broker".to_string()]);
    let env = environment(broker);
    let ports = strings(&broker["ports"]);
    for var in ["MQ_LISTEN", "MQ_ADMIN_LISTEN"] {
        let port = port_of(&env[var]);
        assert!(ports.contains(&format!("{port}:{port}")), "{var} published");
    }
    let data_dir = &env["MQ_DATA_DIR"];
    let volumes = strings(&broker["volumes"]);
    let volume = volumes
        .iter()
        .find(|v| v.ends_with(&format!(":{data_dir}")))
        .unwrap_or_else(|| panic!("{data_dir} is not on a volume: {volumes:?}"));
    let volume_name = volume.split(':').next().unwrap();
    assert!(
        doc["volumes"].get(volume_name).is_some(),
        "volume {volume_name} is declared"
    );
    let health = strings(&broker["healthcheck"]["test"]).join(" ");
    assert!(health.contains(&format!(":{}/", port_of(&env["MQ_ADMIN_LISTEN"]))));
}

#[test]
fn mariadb_and_redis_have_health_checks_and_keep_mariadb_data() {
    let doc = compose();
    for name in ["mariadb", "redis"] {
        let svc = service(&doc, name);
        assert!(svc["image"].as_str().is_some(), "{name} image");
        assert!(
            !strings(&svc["healthcheck"]["test"]).is_empty(),
            "{name} health check"
        );
    }
    let mariadb = service(&doc, "mariadb");
    assert_eq!(
        environment(mariadb)["MARIADB_ALLOW_EMPTY_ROOT_PASSWORD"],
        "1",
        "the services connect as root without a password, as DATABASE_URL says"
    );
    assert!(
        strings(&mariadb["volumes"])
            .iter()
            .any(|v| v.ends_with(":/var/lib/mysql"))
    );
}

/// Packages whose binaries stay out of the image: development tools (the broker
/// benchmark and the confirm-order load program).
const NOT_SHIPPED: [&str; 2] = ["mq-bench", "shop-load"];

#[test]
fn the_dockerfile_builds_and_ships_every_binary_of_the_workspace() {
    let dockerfile = repo_file("Dockerfile");
    let stages = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .count();
    assert!(stages >= 2, "multi-stage build");
    let excludes: String = NOT_SHIPPED.map(|p| format!(" --exclude {p}")).concat();
    assert!(
        dockerfile.contains(&format!(
            "cargo build --release --locked --workspace{excludes} --bins"
        )),
        "the image builds every shipped package's binaries"
    );
    assert!(dockerfile.contains("curl"), "health checks need curl");

    let output = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success());
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut binaries = Vec::new();
    for package in metadata["packages"].as_array().unwrap() {
        for target in package["targets"].as_array().unwrap() {
            let is_bin = target["kind"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k == "bin");
            if is_bin && !NOT_SHIPPED.contains(&package["name"].as_str().unwrap()) {
                binaries.push(target["name"].as_str().unwrap().to_string());
            }
        }
    }
    for s in Service::ALL {
        assert!(
            binaries.iter().any(|b| b == s.binary()),
            "{} is a binary",
            s.binary()
        );
    }
    for binary in &binaries {
        assert!(
            dockerfile.contains(&format!("target/release/{binary} ")),
            "the image ships {binary}"
        );
    }

    // Every command compose runs is a binary the image ships.
    let doc = compose();
    for (name, svc) in doc["services"].as_mapping().unwrap() {
        if svc["build"].as_str().is_some() {
            let command = strings(&svc["command"]);
            assert!(
                binaries.contains(&command[0]),
                "{name:?} runs {command:?}, not a workspace binary"
            );
        }
    }
}

#[test]
fn the_observability_profile_scrapes_every_metrics_endpoint_and_provisions_the_dashboard() {
    let doc = compose();
    for name in ["prometheus", "grafana"] {
        assert_eq!(
            strings(&service(&doc, name)["profiles"]),
            ["observability"],
            "{name} runs only with the observability profile"
        );
        for volume in strings(&service(&doc, name)["volumes"]) {
            let local = volume.split(':').next().unwrap().trim_start_matches("./");
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(local);
            assert!(
                path.exists(),
                "{name} mounts {local}, which is in the repository"
            );
        }
    }

    // Prometheus scrapes each service's port and the broker's admin port.
    let prometheus: Value = serde_yaml_ng::from_str(&repo_file("deploy/prometheus.yml")).unwrap();
    let targets: Vec<String> = prometheus["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|job| strings(&job["static_configs"][0]["targets"]))
        .collect();
    for s in Service::ALL {
        let target = format!("{}:{}", s.binary(), s.default_port());
        assert!(targets.contains(&target), "Prometheus scrapes {target}");
    }
    assert!(targets.contains(&"mq-broker:9877".to_owned()));

    // Every metric the dashboard queries is one the code records.
    let dashboard: serde_json::Value =
        serde_json::from_str(&repo_file("deploy/grafana/dashboards/shop.json")).unwrap();
    let sources: String = [
        "order-svc/src/domain/cancel.rs",
        "order-svc/src/domain/confirm.rs",
        "services/kit/src/http/metrics.rs",
        "services/kit/src/http/observe.rs",
        "services/kit/src/cancelled_orders.rs",
        "mq/src/admin/gauges.rs",
    ]
    .iter()
    .map(|f| repo_file(f))
    .collect();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 7);
    for panel in panels {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let metric = expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .find(|w| w.starts_with("shop_") || w.starts_with("mq_") || w.starts_with("http_"))
                .unwrap_or_else(|| panic!("no metric in {expr}"));
            let recorded = metric
                .trim_end_matches("_bucket")
                .trim_end_matches("_total");
            assert!(
                sources.contains(recorded),
                "{metric} is recorded by the code"
            );
        }
    }

    // docker-compose (when installed) parses the file with the profile.
    if let Ok(out) = std::process::Command::new("docker-compose")
        .args([
            "-f",
            "docker-compose.yml",
            "--profile",
            "observability",
            "config",
            "-q",
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
    {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_tracing_profile_runs_jaeger_and_the_services_export_to_it_only_when_asked() {
    let doc = compose();
    let jaeger = service(&doc, "jaeger");
    assert_eq!(
        strings(&jaeger["profiles"]),
        ["tracing"],
        "Jaeger runs only with the tracing profile"
    );
    assert!(
        jaeger["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("jaegertracing/all-in-one:")),
        "Jaeger all-in-one"
    );
    let ports = strings(&jaeger["ports"]);
    for port in ["16686:16686", "4318:4318"] {
        assert!(ports.contains(&port.to_string()), "Jaeger publishes {port}");
    }
    let readme = repo_file("README.md");
    for s in Service::ALL {
        let env = environment(service(&doc, s.binary()));
        assert_eq!(
            env["OTEL_EXPORTER_OTLP_ENDPOINT"],
            "${OTEL_EXPORTER_OTLP_ENDPOINT:-}",
            "{}: no export unless the user's environment asks for it",
            s.binary()
        );
        assert_eq!(env["OTEL_SERVICE_NAME"], s.binary());
    }
    assert!(
        readme.contains(
            "OTEL_EXPORTER_OTLP_ENDPOINT=http://jaeger:4318 docker compose --profile tracing up"
        ),
        "the README says how to run the profile with export on"
    );
}
