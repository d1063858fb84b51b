//! `shop up` as a user runs it: the real launcher binary starts the real broker and
//! the five services (free ports, this test's own schemas), the services answer, and
//! ctrl-c stops every child.

use std::{
    net::TcpListener,
    path::PathBuf,
    process::Stdio,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use nix::{sys::signal, unistd::Pid};
use serde_json::json;
use shop_kit::settings::Service;
use shop_testkit as testkit;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
};

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn refuses(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
}

#[tokio::test]
async fn shop_up_starts_the_broker_and_five_services_and_ctrl_c_stops_them_all() {
    // Arrange: the binaries cargo built beside `shop`, free ports, fresh schemas.
    let shop = PathBuf::from(env!("CARGO_BIN_EXE_shop"));
    let bin_dir = shop.parent().unwrap();
    for binary in Service::ALL
        .map(Service::binary)
        .iter()
        .chain(&["mq-broker"])
    {
        assert!(
            bin_dir.join(binary).is_file(),
            "{binary} is not built in {}: run the workspace's tests (cargo test --workspace)",
            bin_dir.display()
        );
    }
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let suffix = format!("_launch_{stamp}");
    let data = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..7).map(|_| free_port()).collect();
    let mut command = Command::new(&shop);
    command
        .arg("up")
        .env("SHOP_DATA_DIR", data.path())
        .env("SHOP_SCHEMA_SUFFIX", &suffix)
        .env("SHOP_MYSQL_URL", testkit::mysql_server_url())
        .env("MQ_ADDR", format!("127.0.0.1:{}", ports[5]))
        .env("MQ_ADMIN_ADDR", format!("127.0.0.1:{}", ports[6]))
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    for (service, port) in Service::ALL.iter().zip(&ports) {
        command.env(service.url_var(), format!("http://127.0.0.1:{port}"));
    }

    // Act: start it and wait for its welcome.
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    let welcome = tokio::time::timeout(Duration::from_secs(90), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            printed.push_str(&line);
            printed.push('\n');
            if line.starts_with("Press ctrl-c") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(welcome, Ok(true), "shop up printed:\n{printed}");

    // Assert: every URL it printed answers, and the services work together.
    for (service, port) in Service::ALL.iter().zip(&ports) {
        let url = format!("http://127.0.0.1:{port}");
        assert!(printed.contains(&url), "{} URL printed", service.binary());
        let health = reqwest::get(format!("{url}/health")).await.unwrap();
        assert_eq!(health.status(), 200, "{} healthy", service.binary());
    }
    assert!(
        printed.contains("curl -s -X POST"),
        "a curl to try:\n{printed}"
    );
    assert!(
        printed.contains("Demo data: user 1 (alice, balance 10000.00), goods 1 (phone")
            && printed.contains("shop pay <pay_id>"),
        "the demo data is seeded and the walkthrough printed:\n{printed}"
    );
    let http = reqwest::Client::new();
    let user: serde_json::Value = http
        .post(format!("http://127.0.0.1:{}/users", ports[3]))
        .json(&json!({"name": "alice", "balance": "100.00"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let coupon = http
        .post(format!("http://127.0.0.1:{}/coupons", ports[2]))
        .json(&json!({"user_id": user["user_id"], "value": "5.00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(coupon.status(), 201, "coupon-svc reached user-svc");

    // ctrl-c stops the launcher and every child.
    let pid = Pid::from_raw(child.id().unwrap() as i32);
    signal::kill(pid, signal::Signal::SIGINT).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("shop up stops within 30 s")
        .unwrap();
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
