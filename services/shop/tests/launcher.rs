//! `shop up` as a user runs it: the real `shop` binary (and only it: every part runs
//! as `shop serve <part>`) starts the broker and the five services on free ports, the
//! services answer, and ctrl-c stops every child. With nothing answering at the
//! configured MariaDB and Redis URLs it starts private servers and the walkthrough
//! works on them; with `--external` it refuses to.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use nix::{sys::signal, unistd::Pid};
use serde_json::{Value, json};
use shop_kit::settings::Service;
use shop_testkit as testkit;
use tokio::{
    io::{AsyncBufReadExt, BufReader, Lines},
    process::{Child, ChildStdout, Command},
};

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn refuses(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
}

fn shop() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_shop"))
}

/// `shop up` started on free ports with `data` as its data folder.
struct ShopUp {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    /// Ports of the five services (in the order of `Service::ALL`), the broker, its admin.
    ports: Vec<u16>,
    printed: String,
}

impl ShopUp {
    /// Starts it; its stderr is captured only when `capture_stderr` (else it is this
    /// test's, so that an unread pipe can never block it).
    fn start(data: &Path, args: &[&str], env: &[(&str, String)], capture_stderr: bool) -> ShopUp {
        let ports: Vec<u16> = (0..7).map(|_| free_port()).collect();
        let mut command = Command::new(shop());
        command
            .arg("up")
            .args(args)
            .env("SHOP_DATA_DIR", data)
            .env("MQ_ADDR", format!("127.0.0.1:{}", ports[5]))
            .env("MQ_ADMIN_ADDR", format!("127.0.0.1:{}", ports[6]))
            .env_remove("SHOP_BIN_DIR")
            .stdout(Stdio::piped())
            .stderr(if capture_stderr {
                Stdio::piped()
            } else {
                Stdio::inherit()
            })
            .kill_on_drop(true);
        for (service, port) in Service::ALL.iter().zip(&ports) {
            command.env(service.url_var(), format!("http://127.0.0.1:{port}"));
        }
        command.envs(env.iter().map(|(k, v)| (k, v)));
        let mut child = command.spawn().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        ShopUp {
            child,
            lines,
            ports,
            printed: String::new(),
        }
    }

    /// Reads stdout until "Press ctrl-c"; whether it came within `timeout`.
    async fn wait_until_up(&mut self, timeout: Duration) -> bool {
        let read = async {
            while let Some(line) = self.lines.next_line().await.unwrap() {
                self.printed.push_str(&line);
                self.printed.push('\n');
                if line.starts_with("Press ctrl-c") {
                    return true;
                }
            }
            false
        };
        tokio::time::timeout(timeout, read).await == Ok(true)
    }

    fn url(&self, service: Service) -> String {
        let index = Service::ALL.iter().position(|s| *s == service).unwrap();
        format!("http://127.0.0.1:{}", self.ports[index])
    }

    /// ctrl-c, as a user presses it; the exit status.
    async fn interrupt(mut self) -> std::process::ExitStatus {
        let pid = Pid::from_raw(self.child.id().unwrap() as i32);
        signal::kill(pid, signal::Signal::SIGINT).unwrap();
        tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("shop up stops within 60 s")
            .unwrap()
    }
}

/// The word after `prefix` in `text`.
fn word_after<'a>(text: &'a str, prefix: &str) -> &'a str {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix:?} not in:\n{text}"))
        + prefix.len();
    text[start..]
        .split(|c: char| c.is_whitespace() || c == ',')
        .next()
        .unwrap()
}

async fn get_json(url: String) -> Value {
    reqwest::get(&url).await.unwrap().json().await.unwrap()
}

async fn post_json(url: String, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(&url)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn shop_up_starts_the_broker_and_five_services_and_ctrl_c_stops_them_all() {
    // Arrange: the configured MariaDB and Redis, this test's own schemas.
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let suffix = format!("_launch_{stamp}");
    let data = tempfile::tempdir().unwrap();
    let env = [
        ("SHOP_SCHEMA_SUFFIX", suffix.clone()),
        ("SHOP_MYSQL_URL", testkit::mysql_server_url()),
        ("REDIS_URL", testkit::redis_url()),
    ];

    // Act: start it and wait for its welcome.
    let mut up = ShopUp::start(data.path(), &[], &env, false);
    let started = up.wait_until_up(Duration::from_secs(90)).await;
    assert!(started, "shop up printed:\n{}", up.printed);

    // Assert: every URL it printed answers, and the services work together.
    let printed = up.printed.clone();
    for service in Service::ALL {
        let url = up.url(service);
        assert!(printed.contains(&url), "{} URL printed", service.binary());
        let health = reqwest::get(format!("{url}/health")).await.unwrap();
        assert_eq!(health.status(), 200, "{} healthy", service.binary());
    }
    assert!(
        !printed.contains("private server"),
        "the configured servers answered:\n{printed}"
    );
    assert!(
        printed.contains("Demo data: user 1 (alice, balance 10000.00), goods 1 (phone")
            && printed.contains("shop pay <pay_id>"),
        "the demo data is seeded and the walkthrough printed:\n{printed}"
    );
    let (_, user) = post_json(
        format!("{}/users", up.url(Service::User)),
        json!({"name": "bob", "balance": "100.00"}),
    )
    .await;
    let (status, _) = post_json(
        format!("{}/coupons", up.url(Service::Coupon)),
        json!({"user_id": user["user_id"], "value": "5.00"}),
    )
    .await;
    assert_eq!(status, 201, "coupon-svc reached user-svc");

    // ctrl-c stops the launcher and every child.
    let ports = up.ports.clone();
    let status = up.interrupt().await;
    assert!(status.success(), "clean exit: {status}");
    for port in &ports {
        assert!(refuses(*port), "port {port} is closed after ctrl-c");
    }

    let schemas: Vec<String> = Service::ALL
        .iter()
        .map(|s| format!("shop_{}{suffix}", s.name()))
        .collect();
    testkit::drop_schemas(&schemas).await.unwrap();
}

#[tokio::test]
async fn with_nothing_at_the_configured_urls_shop_up_starts_private_servers_and_the_walkthrough_works()
 {
    // Arrange: MariaDB and Redis URLs at ports nothing listens on.
    let (closed_mysql, closed_redis) = (free_port(), free_port());
    let data = tempfile::tempdir().unwrap();
    let env = [
        (
            "SHOP_MYSQL_URL",
            format!("mysql://root@127.0.0.1:{closed_mysql}"),
        ),
        ("REDIS_URL", format!("redis://127.0.0.1:{closed_redis}")),
    ];

    // Act
    let mut up = ShopUp::start(data.path(), &[], &env, false);
    let started = up.wait_until_up(Duration::from_secs(180)).await;

    // Assert: private servers, under the data folder, and a healthy system on them.
    let printed = up.printed.clone();
    assert!(started, "shop up printed:\n{printed}");
    assert!(
        data.path().join("mariadb").join("mysql").is_dir(),
        "MariaDB's data under the data folder"
    );
    let mysql_url = word_after(&printed, "export SHOP_MYSQL_URL=").to_string();
    let redis_url = word_after(&printed, " REDIS_URL=").to_string();
    assert!(
        printed.contains(&format!("a private server runs at {mysql_url}"))
            && printed.contains(&format!("a private server runs at {redis_url}")),
        "{printed}"
    );
    for service in Service::ALL {
        let health = get_json(format!("{}/health", up.url(service))).await;
        assert_eq!(health["status"], "ok", "{}: {health}", service.binary());
    }

    // The walkthrough it printed: confirm an order with the demo data, pay it with
    // `shop pay`, and the payment reaches the order and the user.
    let demo = &printed[printed.find("Demo data: ").expect("demo data seeded")..];
    let (user, goods, coupon) = (
        word_after(demo, "user "),
        word_after(demo, "goods "),
        word_after(demo, "coupon "),
    );
    let (status, order) = post_json(
        format!("{}/orders", up.url(Service::Order)),
        json!({"user_id": user, "goods_id": goods, "quantity": 1, "goods_price": "5000.00",
               "order_amount": "5000.00", "shipping_fee": "0.00", "coupon_id": coupon,
               "money_paid": "100.00", "address": "Beijing"}),
    )
    .await;
    assert_eq!(
        (status, &order["pay_amount"]),
        (201, &json!("4850.00")),
        "{order}"
    );
    let (status, payment) = post_json(
        format!("{}/payments", up.url(Service::Pay)),
        json!({"order_id": order["order_id"]}),
    )
    .await;
    assert_eq!(status, 201, "{payment}");
    let pay_id = payment["pay_id"].as_str().unwrap();
    let paid = Command::new(shop())
        .args(["pay", pay_id])
        .env("PAY_SVC_URL", up.url(Service::Pay))
        .output()
        .await
        .unwrap();
    assert!(paid.status.success(), "shop pay: {paid:?}");
    let order_url = format!(
        "{}/orders/{}",
        up.url(Service::Order),
        order["order_id"].as_str().unwrap()
    );
    let user_url = format!("{}/users/{user}", up.url(Service::User));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (order, user) = (
            get_json(order_url.clone()).await,
            get_json(user_url.clone()).await,
        );
        if order["pay_status"] == "paid" && user["points"] == 4850 {
            assert_eq!(user["balance"], "9900.00");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not paid within 30 s: {order} {user}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // `shop audit` with the settings shop up printed finds the system consistent.
    let audit = Command::new(shop())
        .args(["audit", "--settle", "20s"])
        .env("SHOP_MYSQL_URL", &mysql_url)
        .env("REDIS_URL", &redis_url)
        .output()
        .await
        .unwrap();
    assert!(
        audit.status.success(),
        "shop audit:\n{}",
        String::from_utf8_lossy(&audit.stdout)
    );

    // ctrl-c stops the private servers with the rest.
    let mut ports = up.ports.clone();
    for url in [&mysql_url, &redis_url] {
        ports.push(word_after(url, "127.0.0.1:").parse().unwrap());
    }
    let status = up.interrupt().await;
    assert!(status.success(), "clean exit: {status}");
    for port in &ports {
        assert!(refuses(*port), "port {port} is closed after ctrl-c");
    }
}

#[tokio::test]
async fn with_external_and_nothing_at_the_configured_urls_shop_up_exits_1_naming_the_server() {
    let (closed_mysql, closed_redis) = (free_port(), free_port());
    let data = tempfile::tempdir().unwrap();
    let env = [
        (
            "SHOP_MYSQL_URL",
            format!("mysql://root@127.0.0.1:{closed_mysql}"),
        ),
        ("REDIS_URL", format!("redis://127.0.0.1:{closed_redis}")),
    ];

    let up = ShopUp::start(data.path(), &["--external"], &env, true);
    let output = tokio::time::timeout(Duration::from_secs(30), up.child.wait_with_output())
        .await
        .expect("shop up --external gives up at once")
        .unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "MariaDB is not reachable at 127.0.0.1:{closed_mysql}"
        )) && stderr.contains(&format!(
            "Redis is not reachable at 127.0.0.1:{closed_redis}"
        )) && stderr.contains("--external"),
        "{stderr}"
    );
    assert!(
        !data.path().join("mariadb").exists(),
        "no private server was started"
    );
}
