//! No Docker engine runs where the tests run, so docker-compose.yml and the Dockerfile
//! are checked by reading them: every service's command, ports, health check and
//! environment must agree with what its binary reads (`shop_kit::settings`) and with
//! docs/operations.md, and the image must carry every binary of the workspace, built
//! with both buses. The rocketmq profile's Apache RocketMQ is checked against its
//! broker configuration (deploy/rocketmq/broker.conf) and the services' bus settings.

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
        let bus = bus_variables();
        let mut expected: Vec<&str> = s.env_vars();
        expected.extend(bus.iter().map(String::as_str));
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

/// Every variable the bus reads when a service starts (`Bus::from_env`, in
/// services/kit/src/bus/mod.rs): `SHOP_BUS` and the RocketMQ backend's `ROCKETMQ_*`.
fn bus_variables() -> Vec<String> {
    let code = repo_file("services/kit/src/bus/mod.rs");
    let mut vars: Vec<String> = code
        .split("var(\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|name| name.starts_with("SHOP_") || name.starts_with("ROCKETMQ_"))
        .map(String::from)
        .collect();
    vars.sort();
    vars.dedup();
    for var in ["SHOP_BUS", "ROCKETMQ_NAMESRV_ADDR"] {
        assert!(
            vars.iter().any(|v| v == var),
            "found the bus's variables: {vars:?}"
        );
    }
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
    assert!(
        strings(&mariadb["command"]).contains(&"--thread-handling=pool-of-threads".to_string()),
        "MariaDB serves the pools' short transactions with its thread pool (docs/performance.md)"
    );
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

/// The workspace's packages, as `cargo metadata` describes them.
fn cargo_metadata() -> serde_json::Value {
    let output = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success());
    serde_json::from_slice(&output.stdout).unwrap()
}

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

    let metadata = cargo_metadata();
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

    docker_compose_parses("observability", &[]);
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

/// The services of the rocketmq profile: Apache RocketMQ's name server, the one-shot
/// that gives the broker its store, the broker and the RocketMQ dashboard.
const ROCKETMQ_SERVICES: [&str; 4] = ["rmqnamesrv", "rmqbroker-init", "rmqbroker", "rmqdashboard"];

/// The command that runs the shop on Apache RocketMQ, as the docs give it.
const ROCKETMQ_UP: &str = "SHOP_BUS=rocketmq docker compose --profile rocketmq up --build";

/// deploy/rocketmq/broker.conf, the broker's configuration: `key = value` lines
/// (Java properties as RocketMQ reads them), `#` comments.
fn broker_conf() -> BTreeMap<String, String> {
    let mut conf = BTreeMap::new();
    for line in repo_file("deploy/rocketmq/broker.conf").lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("broker.conf: not `key = value`: {line}"));
        let previous = conf.insert(key.trim().to_string(), value.trim().to_string());
        assert!(previous.is_none(), "broker.conf sets {key} twice");
    }
    conf
}

/// The argument after `flag` in a command.
fn argument<'a>(command: &'a [String], flag: &str) -> &'a str {
    command
        .iter()
        .position(|a| a == flag)
        .and_then(|i| command.get(i + 1))
        .unwrap_or_else(|| panic!("no {flag} in {command:?}"))
}

/// The port a `bash -c 'echo > /dev/tcp/127.0.0.1/<port>'` health check connects to.
fn health_check_port(name: &str, svc: &Value) -> u16 {
    let test = strings(&svc["healthcheck"]["test"]).join(" ");
    test.split("/dev/tcp/127.0.0.1/")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("{name}'s health check connects to no port: {test}"))
}

/// `-Dname=value` of a `JAVA_OPTS`.
fn java_property<'a>(java_opts: &'a str, name: &str) -> Option<&'a str> {
    java_opts
        .split_whitespace()
        .find_map(|opt| opt.strip_prefix(&format!("-D{name}=")))
}

/// docker-compose (when installed) parses the file with `profile` and the
/// environment `env`.
fn docker_compose_parses(profile: &str, env: &[(&str, &str)]) {
    if let Ok(out) = std::process::Command::new("docker-compose")
        .args([
            "-f",
            "docker-compose.yml",
            "--profile",
            profile,
            "config",
            "-q",
        ])
        .envs(env.iter().copied())
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
fn the_rocketmq_profile_alone_runs_the_official_apache_rocketmq_5_images() {
    let doc = compose();
    for (name, svc) in doc["services"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        let profiles = strings(&svc["profiles"]);
        if ROCKETMQ_SERVICES.contains(&name) {
            assert_eq!(
                profiles,
                ["rocketmq"],
                "{name} runs only with the rocketmq profile"
            );
        } else {
            assert!(
                !profiles.contains(&"rocketmq".to_string()),
                "{name} is not one of the rocketmq profile's services"
            );
        }
    }

    let image = |name: &str| service(&doc, name)["image"].as_str().unwrap().to_string();
    let rocketmq = image("rmqnamesrv");
    let version = rocketmq
        .strip_prefix("apache/rocketmq:")
        .unwrap_or_else(|| panic!("the name server runs Apache's image: {rocketmq}"));
    assert!(
        version.starts_with("5.") && version.split('.').count() == 3,
        "Apache RocketMQ 5.x, an exact release: {rocketmq}"
    );
    for name in ["rmqbroker-init", "rmqbroker"] {
        assert_eq!(image(name), rocketmq, "{name} runs the name server's image");
    }
    let dashboard = image("rmqdashboard");
    let dashboard_version = dashboard
        .strip_prefix("apacherocketmq/rocketmq-dashboard:")
        .unwrap_or_else(|| panic!("the dashboard is Apache RocketMQ's: {dashboard}"));
    assert_eq!(
        dashboard_version.split('.').count(),
        3,
        "the dashboard is an exact release: {dashboard}"
    );

    let namesrv = service(&doc, "rmqnamesrv");
    assert_eq!(strings(&namesrv["command"]), ["sh", "mqnamesrv"]);
    assert_eq!(
        health_check_port("rmqnamesrv", namesrv),
        9876,
        "the name server's health check connects to its port"
    );
    assert_eq!(
        namesrv["restart"].as_str(),
        Some("unless-stopped"),
        "rmqnamesrv"
    );

    docker_compose_parses("rocketmq", &[("SHOP_BUS", "rocketmq")]);
}

#[test]
fn every_image_is_pinned_to_a_release() {
    let doc = compose();
    for (name, svc) in doc["services"].as_mapping().unwrap() {
        if svc["build"].as_str().is_some() {
            continue;
        }
        let image = svc["image"]
            .as_str()
            .unwrap_or_else(|| panic!("{name:?} image"));
        let tag = image
            .rsplit_once(':')
            .map(|(_, tag)| tag)
            .unwrap_or_else(|| panic!("{name:?} pins no tag: {image}"));
        assert!(
            tag != "latest"
                && tag
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit() || c == 'v'),
            "{name:?} pins a release, not {image}"
        );
    }
}

#[test]
fn no_two_services_publish_the_same_host_port_in_any_profile() {
    let doc = compose();
    let mut published: BTreeMap<String, String> = BTreeMap::new();
    for (name, svc) in doc["services"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        for port in strings(&svc["ports"]) {
            let host = port.split(':').next().unwrap().to_string();
            if let Some(other) = published.insert(host.clone(), name.to_string()) {
                panic!("{name} and {other} both publish host port {host}");
            }
        }
    }
    assert!(
        published.contains_key("8082"),
        "goods-svc's port is among them"
    );
}

#[test]
fn the_rocketmq_broker_registers_under_the_name_compose_gives_it_and_keeps_its_store() {
    let doc = compose();
    let conf = broker_conf();
    let broker = service(&doc, "rmqbroker");
    let command = strings(&broker["command"]);
    assert_eq!(command[..2], ["sh", "mqbroker"], "{command:?}");
    assert_eq!(
        broker["restart"].as_str(),
        Some("unless-stopped"),
        "rmqbroker"
    );

    // The services reach the broker at the address it registers with the name server.
    assert_eq!(
        conf["brokerIP1"], "rmqbroker",
        "the broker registers its compose service's name"
    );
    let port: u16 = conf["listenPort"].parse().unwrap();
    assert_eq!(
        health_check_port("rmqbroker", broker),
        port,
        "the broker's health check connects to its listenPort"
    );

    // It registers with the name server the services ask.
    let namesrv = argument(&command, "-n");
    let (host, namesrv_port) = namesrv.split_once(':').unwrap();
    assert_eq!(host, "rmqnamesrv", "the name server's compose service");
    assert_eq!(
        namesrv_port.parse::<u16>().unwrap(),
        health_check_port("rmqnamesrv", service(&doc, "rmqnamesrv"))
    );
    for s in Service::ALL {
        let env = environment(service(&doc, s.binary()));
        assert_eq!(
            expand_default(&env["ROCKETMQ_NAMESRV_ADDR"]),
            namesrv,
            "{}: ROCKETMQ_NAMESRV_ADDR names the broker's name server",
            s.binary()
        );
    }
    assert_healthy_dependencies("rmqbroker", broker, &["rmqnamesrv"]);

    // Its configuration is the repository's file.
    let conf_path = argument(&command, "-c");
    let volumes = strings(&broker["volumes"]);
    let mount = volumes
        .iter()
        .find(|v| v.split(':').nth(1) == Some(conf_path))
        .unwrap_or_else(|| panic!("{conf_path} is not mounted: {volumes:?}"));
    assert_eq!(
        mount.split(':').next(),
        Some("./deploy/rocketmq/broker.conf"),
        "{mount}"
    );
    assert!(mount.ends_with(":ro"), "{mount} read-only");

    // Its store is on a declared volume, given to the image's user first.
    let store = &conf["storePathRootDir"];
    assert!(
        conf["storePathCommitLog"].starts_with(&format!("{store}/")),
        "the commit log is in the store"
    );
    let volume = volumes
        .iter()
        .find(|v| v.ends_with(&format!(":{store}")))
        .unwrap_or_else(|| panic!("{store} is not on a volume: {volumes:?}"));
    let volume_name = volume.split(':').next().unwrap();
    assert!(
        doc["volumes"].get(volume_name).is_some(),
        "volume {volume_name} is declared"
    );
    let init = service(&doc, "rmqbroker-init");
    assert!(strings(&init["volumes"]).contains(volume));
    assert_eq!(init["user"].as_str(), Some("root"));
    let chown = strings(&init["command"]);
    assert_eq!(chown[0], "chown");
    assert!(chown[1].starts_with("rocketmq"), "{chown:?}");
    assert_eq!(chown.last(), Some(store), "{chown:?}");
    assert_eq!(
        broker["depends_on"]["rmqbroker-init"]["condition"].as_str(),
        Some("service_completed_successfully"),
        "the broker starts once its store is its own"
    );
}

#[test]
fn the_rocketmq_broker_keeps_the_embedded_brokers_guarantees() {
    let doc = compose();
    let conf = broker_conf();
    let mq = environment(service(&doc, "mq-broker"));
    let millis = |var: &str| {
        mq::config::parse_duration(&mq[var])
            .unwrap()
            .as_millis()
            .to_string()
    };
    assert_eq!(
        (conf["flushDiskType"].as_str(), mq["MQ_FLUSH"].as_str()),
        ("SYNC_FLUSH", "sync"),
        "acknowledged means fsynced on both buses"
    );
    assert_eq!(
        conf["transactionTimeOut"],
        millis("MQ_TXN_CHECK_AFTER"),
        "first check-back"
    );
    assert_eq!(
        conf["transactionCheckInterval"],
        millis("MQ_TXN_CHECK_INTERVAL")
    );
    assert_eq!(conf["transactionCheckMax"], mq["MQ_TXN_CHECK_MAX"]);
    let retention = mq::config::parse_duration(&mq["MQ_RETENTION"]).unwrap();
    assert_eq!(
        conf["fileReservedTime"],
        (retention.as_secs() / 3600).to_string(),
        "hours kept"
    );
    assert_eq!(
        conf["timerWheelEnable"], "true",
        "the payment timeout is a timer message"
    );
    assert_eq!(
        conf["autoCreateTopicEnable"], "true",
        "the services create no topic ahead"
    );
    assert_eq!(conf["autoCreateSubscriptionGroup"], "true");
}

#[test]
fn every_service_takes_its_bus_from_the_users_environment_with_values_the_bus_accepts() {
    let doc = compose();
    let first = environment(service(&doc, Service::ALL[0].binary()));
    for s in Service::ALL {
        let env = environment(service(&doc, s.binary()));
        for var in bus_variables() {
            assert_eq!(env[&var], first[&var], "{}: one bus for all", s.binary());
        }
    }
    assert_eq!(
        first["SHOP_BUS"], "${SHOP_BUS:-mq}",
        "the embedded broker unless the user's environment asks for RocketMQ"
    );
    assert!(
        first["ROCKETMQ_NAMESRV_ADDR"].starts_with("${ROCKETMQ_NAMESRV_ADDR:-"),
        "another RocketMQ deployment can be named: {}",
        first["ROCKETMQ_NAMESRV_ADDR"]
    );
    let retries: i32 = first["ROCKETMQ_MAX_RECONSUME_TIMES"]
        .parse()
        .expect("ROCKETMQ_MAX_RECONSUME_TIMES is a number");
    assert!(retries > 0);
    let interval = shop_kit::settings::parse_duration(&first["ROCKETMQ_CLIENT_INTERVAL"])
        .expect("ROCKETMQ_CLIENT_INTERVAL is a duration");
    assert!(
        (10..=600).contains(&interval.as_secs()),
        "the client takes 10 s to 10 min: {interval:?}"
    );

    // The profile alone, the user's environment naming no bus, parses too.
    docker_compose_parses("rocketmq", &[]);
}

#[test]
fn the_rocketmq_dashboard_reads_the_name_server_and_publishes_the_port_it_serves() {
    let doc = compose();
    let dashboard = service(&doc, "rmqdashboard");
    let java_opts = environment(dashboard)["JAVA_OPTS"].clone();
    let namesrv = argument(&strings(&service(&doc, "rmqbroker")["command"]), "-n").to_string();
    for property in ["rocketmq.namesrv.addr", "rocketmq.config.namesrvAddrs"] {
        assert_eq!(
            java_property(&java_opts, property),
            Some(namesrv.as_str()),
            "{property} in {java_opts}"
        );
    }
    let port = java_property(&java_opts, "server.port")
        .unwrap_or_else(|| panic!("the dashboard's port is set: {java_opts}"));
    assert_eq!(strings(&dashboard["ports"]), [format!("{port}:{port}")]);
    assert_healthy_dependencies("rmqdashboard", dashboard, &["rmqnamesrv"]);

    // The docs give the command and the dashboard's address.
    let url = format!("http://127.0.0.1:{port}");
    for doc in ["README.md", "docs/scaling.md"] {
        let text = repo_file(doc);
        assert!(text.contains(ROCKETMQ_UP), "{doc} gives `{ROCKETMQ_UP}`");
        assert!(text.contains(&url), "{doc} names the dashboard, {url}");
    }
    let compose_file = repo_file("docker-compose.yml");
    assert!(compose_file.contains(ROCKETMQ_UP) && compose_file.contains(&url));
}

#[test]
fn the_image_is_built_with_the_rocketmq_backend_of_every_service() {
    let dockerfile = repo_file("Dockerfile").replace("\\\n", " ");
    let build: Vec<&str> = dockerfile
        .lines()
        .find(|l| l.contains("cargo build"))
        .expect("the Dockerfile runs cargo build")
        .split_whitespace()
        .collect();
    let features: Vec<&str> = build
        .windows(2)
        .filter(|w| w[0] == "--features" || w[0] == "-F")
        .flat_map(|w| w[1].split(','))
        .collect();
    assert!(
        features.contains(&"shop-kit/rocketmq"),
        "the services' RocketMQ backend is built: {features:?}"
    );

    // Each feature is one a built package has (cargo would refuse the build otherwise).
    let metadata = cargo_metadata();
    let packages = metadata["packages"].as_array().unwrap();
    let package = |name: &str| {
        packages
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no package {name} in the workspace"))
    };
    for feature in &features {
        let (name, feature) = feature
            .split_once('/')
            .unwrap_or_else(|| panic!("{feature}: name the package"));
        assert!(!NOT_SHIPPED.contains(&name), "{name} is not built");
        assert!(
            package(name)["features"].get(feature).is_some(),
            "{name} has no feature {feature}"
        );
    }
    // Every service links shop-kit, whose one build carries the feature.
    for s in Service::ALL {
        let service = packages
            .iter()
            .find(|p| {
                p["targets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t["name"] == s.binary() && t["kind"][0] == "bin")
            })
            .unwrap_or_else(|| panic!("no package builds {}", s.binary()));
        assert!(
            service["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["name"] == "shop-kit" && d["kind"].is_null()),
            "{} links shop-kit",
            s.binary()
        );
    }
}
