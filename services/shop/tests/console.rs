//! The console in a real headless Chromium (driven over WebDriver by `chromedriver`):
//! a managed system (the real broker and five services as processes), the console
//! served in this test, and each page checked for its content: the broker's topics
//! and groups, a message found by key with its delivery history, a dead letter
//! resent from the page and then delivered, the shop's services, orders and audit,
//! and an order's timeline showing its compensation. A screenshot of each page goes
//! to `target/console-screenshots/`.
//!
//! Needs `chromium` and `chromium-driver` (Debian); `.ci/run` installs them.
//! `CHROMEDRIVER` names another driver binary.

use std::{
    path::PathBuf,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator};
use mq::{ConsumeResult, Consumer, ConsumerConfig, Message, Producer};
use serde_json::json;
use shop::{
    Managed, ShopApi, Timings,
    api::{Placed, order_body},
    console::Console,
};
use shop_testkit as testkit;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(20);

fn bin_dir() -> PathBuf {
    let shop = PathBuf::from(env!("CARGO_BIN_EXE_shop"));
    shop.parent().expect("shop lives in a folder").to_path_buf()
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target/tmp has a parent")
        .join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

/// `chromedriver` on a free port, killed on drop.
struct Driver {
    _child: Child,
    url: String,
}

impl Driver {
    async fn start() -> Driver {
        let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {binary} ({e}): install chromium and chromium-driver")
            });
        let url = format!("http://127.0.0.1:{port}");
        let status = format!("{url}/status");
        testkit::eventually("chromedriver ready", WAIT, || async {
            reqwest::get(&status)
                .await
                .ok()?
                .status()
                .is_success()
                .then_some(())
        })
        .await;
        Driver { _child: child, url }
    }

    async fn browser(&self) -> Client {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1440,1000",
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), json!({ "args": args }));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

/// Waits until the element `css` shows `text` (pages refresh every 2 s).
async fn shows(browser: &Client, css: &str, text: &str) {
    let what = format!("{css} shows {text:?}");
    testkit::eventually(&what, WAIT, || async {
        let element = browser.find(Locator::Css(css)).await.ok()?;
        element.text().await.ok()?.contains(text).then_some(())
    })
    .await;
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).expect("screenshot saved");
}

#[tokio::test]
async fn the_console_shows_broker_and_shop_finds_a_message_resends_a_dead_letter_and_draws_a_compensation()
 {
    let system = Managed::start(&bin_dir(), &testkit::mysql_server_url(), Timings::fast())
        .await
        .unwrap_or_else(|e| panic!("the managed system did not start: {e:#}"));
    let target = system.target.clone();
    let console = Console::bind("127.0.0.1:0", target.clone())
        .await
        .expect("console binds");
    let url = console.url();
    let stop = CancellationToken::new();
    tokio::spawn(console.serve(stop.clone()));
    let driver = Driver::start().await;
    let browser = driver.browser().await;

    // An order that fails after its balance step: cancelled and compensated.
    let api = ShopApi::new(&target);
    let user = api.user("alice", "1000.00").await.unwrap();
    let goods = api.goods_item("phone", "100.00", 10).await.unwrap();
    let body = order_body(user.user_id, &goods, 1, None, "20.00");
    let Placed::Refused {
        order_id: Some(order_id),
        ..
    } = api.place(&body, Some("after-balance")).await.unwrap()
    else {
        panic!("the fault cancels the order");
    };
    let order_id = order_id.to_string();

    // Broker: topics and groups.
    browser.goto(&format!("{url}#broker")).await.unwrap();
    shows(&browser, "#topics-table", "order").await;
    shows(&browser, "#groups-table", "goods-order-cancel").await;
    shows(&browser, "#broker-summary", "groups").await;
    screenshot(&browser, "broker").await;

    // Messages: the cancel message found by its key, with its delivery to each group.
    browser.goto(&format!("{url}#messages")).await.unwrap();
    let topic = browser.find(Locator::Css("#search-topic")).await.unwrap();
    topic.send_keys("order").await.unwrap();
    let key = browser.find(Locator::Css("#search-key")).await.unwrap();
    key.send_keys(&order_id).await.unwrap();
    testkit::eventually("cancel delivered to every group", WAIT, || async {
        browser
            .find(Locator::Css("#search-btn"))
            .await
            .ok()?
            .click()
            .await
            .ok()?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let history = browser.find(Locator::Css("#history-table")).await.ok()?;
        let text = history.text().await.ok()?;
        let groups = [
            "goods-order-cancel",
            "coupon-order-cancel",
            "user-order-cancel",
            "order-order-cancel",
        ];
        (groups.iter().all(|g| text.contains(g)) && !text.contains("pending")).then_some(())
    })
    .await;
    shows(&browser, "#results-table", "cancel").await;
    shows(&browser, "#history-table", "consumed").await;
    screenshot(&browser, "messages").await;

    // Dead letters: a message its consumer refuses until told otherwise.
    let addr = target.config.mq_addr();
    let accept = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicU32::new(0));
    let (a, d) = (accept.clone(), delivered.clone());
    let consumer = Consumer::start(
        ConsumerConfig::new(&addr, "console-demo", "console-demo"),
        move |_| {
            let ok = a.load(Ordering::SeqCst);
            if ok {
                d.fetch_add(1, Ordering::SeqCst);
            }
            async move {
                if ok {
                    ConsumeResult::Ack
                } else {
                    ConsumeResult::Later
                }
            }
        },
    )
    .await
    .unwrap();
    let producer = Producer::connect(&addr).await.unwrap();
    producer
        .send(Message::new("console-demo", "hello").with_key("dlq-demo"))
        .await
        .unwrap();
    let admin = target.config.mq_admin_url();
    testkit::eventually("dead-lettered", WAIT, || async {
        let dead: serde_json::Value = reqwest::get(format!("{admin}/dlq/console-demo"))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (!dead.as_array()?.is_empty()).then_some(())
    })
    .await;
    accept.store(true, Ordering::SeqCst);
    browser
        .goto(&format!("{url}#dlq/console-demo"))
        .await
        .unwrap();
    shows(&browser, "#dlq-table", "dlq-demo").await;
    screenshot(&browser, "dead-letters").await;
    browser
        .find(Locator::Css("#dlq-table button.resend"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    shows(&browser, "#dlq-note", "resent").await;
    testkit::eventually("the resent message delivered", WAIT, || async {
        (delivered.load(Ordering::SeqCst) >= 1).then_some(())
    })
    .await;
    consumer.shutdown().await;

    // Shop: services, orders, audit.
    browser.goto(&format!("{url}#shop")).await.unwrap();
    shows(&browser, "#services-table", "order-svc").await;
    testkit::eventually("the five services and the broker up", WAIT, || async {
        let up = browser
            .find_all(Locator::Css("#services-table td.ok"))
            .await
            .ok()?;
        let down = browser
            .find_all(Locator::Css("#services-table td.bad"))
            .await
            .ok()?;
        (up.len() == 6 && down.is_empty()).then_some(())
    })
    .await;
    shows(&browser, "#orders-table", &order_id).await;
    shows(&browser, "#orders-table", "confirm_failed").await;
    shows(&browser, "#audit", "invariant").await;
    screenshot(&browser, "shop").await;

    // The order's timeline: lanes with the compensation of every service.
    browser
        .goto(&format!("{url}#order/{order_id}"))
        .await
        .unwrap();
    shows(&browser, "#timeline-head", "complete").await;
    for lane in ["goods-svc", "coupon-svc", "user-svc"] {
        let css = format!("#lanes .lane[data-lane='{lane}']");
        shows(&browser, &css, "compensation").await;
    }
    shows(
        &browser,
        "#lanes .lane[data-lane='order-svc']",
        "order cancelled",
    )
    .await;
    shows(
        &browser,
        "#lanes .lane[data-lane='mq-broker']",
        "order/cancel",
    )
    .await;
    shows(&browser, "#events-table", "compensated").await;
    screenshot(&browser, "order-timeline").await;

    browser.close().await.unwrap();
    drop(driver);
    stop.cancel();
    system.stop(false).await;
}
