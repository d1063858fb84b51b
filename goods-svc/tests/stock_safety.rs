//! The stock cache stays safe when reservations, cancels, Redis and the reconciler
//! interleave badly. Each test runs goods-svc (real MariaDB, Redis and broker; its
//! own reconciler idle) and drives a second `Stock` on the same schema, Redis
//! prefix and broker with fault points, running reconciler passes itself. Events are
//! ordered with gates, never with sleeps; the one wait on the clock is the
//! reservation's own deadline, which a held reservation must outlive.
//!
//! What matters is asserted as a customer sees it: the units that can be sold
//! (reserved one by one until `STOCK_NOT_ENOUGH`) equal what MySQL says is left.

use std::time::Duration;

use goods_svc::{
    App,
    consumers::order_cancel::ReturnStockOnCancel,
    stock::{
        ReserveError, Stock,
        hooks::{Gate, StockHooks},
        publisher::JournalPublisher,
        reconciler,
    },
    store::{stock_cache, stock_logs},
};
use serde_json::json;
use shop_kit::bus::Delivery;
use shop_kit::{
    cache::Cache,
    consumer_log::{Consume, is_lock_conflict},
    contracts::{
        goods::ReserveStock,
        order::{CancelReason, OrderCancelled},
    },
    db::Database,
    ids::Id,
    money::Money,
    settings::Service,
};
use shop_testkit::{TestApp, TestEnv, eventually, json};
use sqlx::{Acquire, MySqlPool};

const RESERVE_TIMEOUT: Duration = Duration::from_millis(300);

struct World {
    app: TestApp,
    stock: Stock,
    pool: MySqlPool,
    // Dropped last: it owns the schema, the Redis keys and the broker.
    _env: TestEnv,
}

async fn world() -> World {
    let env = TestEnv::new().await;
    let app = env
        .spawn_with::<App>(|s| {
            s.stock_reserve_timeout = RESERVE_TIMEOUT;
            s.stock_reconcile_interval = Duration::from_secs(3600);
        })
        .await;
    let stock = stock_of(&app, 8, StockHooks::default()).await;
    let pool = app.db().await;
    World {
        app,
        stock,
        pool,
        _env: env,
    }
}

/// Another `Stock` of `app`'s schema, Redis prefix and broker.
async fn stock_of(app: &TestApp, connections: u32, hooks: StockHooks) -> Stock {
    let db = Database::connect_lazy_with_max(&app.settings.database_url, connections).unwrap();
    db.migrate(Service::Goods).await.unwrap();
    let cache = Cache::connect_lazy(&app.settings.redis_url, &app.settings.redis_prefix).unwrap();
    let publisher = JournalPublisher::new(
        &shop_kit::bus::Bus::embedded(&app.settings.mq_addr),
        db.clone(),
    );
    Stock::new(db, cache, publisher, RESERVE_TIMEOUT).with_hooks(hooks)
}

impl World {
    async fn goods(&self, stock: u32) -> Id {
        let created = self
            .app
            .post(
                "/goods",
                &json!({"name": "Lamp", "price": 5, "stock": stock}),
            )
            .await;
        let body = json(created).await;
        Id(body["goods_id"].as_str().unwrap().parse().unwrap())
    }

    /// What MySQL says can still be reserved: the stock minus journals reserved
    /// and not yet applied.
    async fn truth(&self, goods_id: Id) -> i64 {
        sqlx::query_scalar(
            r"select cast(g.goods_number - coalesce(
                     (select sum(l.quantity) from trade_stock_log l
                      where l.goods_id = g.goods_id and l.status = 'reserved'), 0) as signed)
              from trade_goods g where g.goods_id = ?",
        )
        .bind(goods_id.0)
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    /// What Redis says can still be reserved (rebuilt first if Redis lost it).
    async fn cached(&self, goods_id: Id) -> i64 {
        self.stock.ensure_cached(goods_id).await.unwrap();
        stock_cache::available(&self.stock.cache, goods_id)
            .await
            .unwrap()
            .unwrap()
    }

    async fn pass(&self) {
        reconciler::reconcile_once(&self.stock, RESERVE_TIMEOUT)
            .await
            .unwrap();
    }

    /// Reserves one unit at a time for new orders until refused; how many.
    async fn sell_out(&self, goods_id: Id, first_order: u64) -> i64 {
        let mut sold = 0;
        loop {
            let order_id = Id(first_order + sold as u64);
            match reserve(&self.stock, order_id, goods_id, 1).await {
                Ok(_) => sold += 1,
                Err(ReserveError::StockNotEnough) => return sold,
                Err(other) => panic!("reservation failed: {other}"),
            }
        }
    }

    /// The `order`/`cancel` message of `order_id`, as order-svc publishes it.
    fn cancel_message(&self, order_id: Id, goods_id: Id, quantity: u32) -> Delivery {
        let body = OrderCancelled {
            order_id,
            user_id: Id(1),
            goods_id,
            quantity,
            coupon_id: None,
            money_paid: Money::ZERO,
            reason: CancelReason::ConfirmFailed,
        };
        Delivery {
            id: format!("1-{}", order_id.0),
            topic: "order".into(),
            tag: "cancel".into(),
            keys: vec![order_id.to_string()],
            body: serde_json::to_vec(&body).unwrap().into(),
            properties: Default::default(),
            born_at_ms: 0,
            stored_at_ms: 0,
            attempt: 1,
        }
    }

    /// The cancel consumer's transaction, committed; with `give_back` its Redis
    /// give-back after the commit too (without: the process died in between).
    async fn cancel(&self, order_id: Id, goods_id: Id, quantity: u32, give_back: bool) {
        let consumer = ReturnStockOnCancel {
            db: self.stock.db.clone(),
            cache: self.stock.cache.clone(),
        };
        let message = self.cancel_message(order_id, goods_id, quantity);
        // As the consumer log does: a deadlock with the journal's own consumer
        // (goods-svc applying it meanwhile) runs the transaction again.
        let mut tries = 0;
        let effect = loop {
            tries += 1;
            let mut conn = self.pool.acquire().await.unwrap();
            let mut tx = conn.begin().await.unwrap();
            match consumer.apply(&mut tx, &message).await {
                Ok(effect) => {
                    tx.commit().await.unwrap();
                    break effect;
                }
                Err(error) if tries < 5 && is_lock_conflict(&error) => continue,
                Err(error) => panic!("cancel failed: {error:#}"),
            }
        };
        if give_back {
            consumer.after_commit(effect).await;
        }
    }
}

async fn reserve(
    stock: &Stock,
    order_id: Id,
    goods_id: Id,
    quantity: u32,
) -> Result<shop_kit::contracts::goods::Reservation, ReserveError> {
    let request = ReserveStock {
        order_id,
        goods_id,
        quantity,
    };
    stock.reserve(&request).await
}

/// Holds a reservation of `quantity` at the half send; returns its task and gate
/// once its Redis decrement is done.
async fn held_reservation(
    world: &World,
    order_id: Id,
    goods_id: Id,
    quantity: u32,
) -> (
    tokio::task::JoinHandle<Result<shop_kit::contracts::goods::Reservation, ReserveError>>,
    std::sync::Arc<Gate>,
) {
    let gate = Gate::new();
    let hooks = StockHooks {
        before_half: Some(gate.clone()),
        ..Default::default()
    };
    let held = stock_of(&world.app, 4, hooks).await;
    let task = tokio::spawn(async move { reserve(&held, order_id, goods_id, quantity).await });
    gate.reached().await;
    (task, gate)
}

#[tokio::test]
async fn a_half_send_held_past_the_reserve_timeout_while_the_reconciler_runs_oversells_nothing() {
    let world = world().await;
    let goods_id = world.goods(10).await;
    let (task, gate) = held_reservation(&world, Id(1), goods_id, 3).await;
    let held_since = tokio::time::Instant::now();

    // Redis is 3 below MySQL while the half is held: the reconciler runs meanwhile.
    world.pass().await;
    // The reservation's deadline passes before its half is sent.
    tokio::time::sleep_until(held_since + RESERVE_TIMEOUT * 2).await;
    world.pass().await;
    gate.release();
    let outcome = task.await.unwrap();
    assert!(outcome.is_err(), "the late reservation rolls back");

    assert_eq!(world.truth(goods_id).await, 10);
    assert_eq!(world.cached(goods_id).await, 10, "Redis = MySQL");
    assert_eq!(world.sell_out(goods_id, 100).await, 10, "no unit oversold");
}

#[tokio::test]
async fn a_commit_whose_outcome_is_lost_gives_nothing_back_and_its_cancel_gives_back_once() {
    let world = world().await;
    let goods_id = world.goods(10).await;
    let gate = Gate::new();
    let hooks = StockHooks {
        lose_commit_outcome: Some(gate.clone()),
        ..Default::default()
    };
    let lossy = stock_of(&world.app, 4, hooks).await;

    // The COMMIT reaches the server, the writer loses the connection first.
    let outcome = reserve(&lossy, Id(2), goods_id, 3).await;
    assert!(
        outcome.is_err(),
        "the caller is told the outcome is unknown"
    );
    gate.release();
    eventually(
        "the late COMMIT landed",
        Duration::from_secs(10),
        || async {
            let found = stock_logs::find_for_order(&world.pool, Id(2), goods_id)
                .await
                .unwrap();
            found.map(|_| ())
        },
    )
    .await;
    assert_eq!(world.truth(goods_id).await, 7);
    assert_eq!(world.cached(goods_id).await, 7, "nothing given back");

    // The order is cancelled: its 3 units come back once.
    world.cancel(Id(2), goods_id, 3, true).await;
    assert_eq!(world.truth(goods_id).await, 10);
    assert_eq!(world.cached(goods_id).await, 10, "given back once");
    // Passes after the reservation's window settle it from the journal row.
    tokio::time::sleep(RESERVE_TIMEOUT * 2).await;
    world.pass().await;
    assert_eq!(world.sell_out(goods_id, 100).await, 10, "no unit oversold");
}

#[tokio::test]
async fn a_journal_that_cannot_be_applied_does_not_stop_drift_repair_and_is_reported() {
    let world = world().await;
    let drifting = world.goods(5).await;
    let poisoned = world.goods(5).await;
    // A reserved journal for more units than the goods have, its message overdue.
    sqlx::query(
        r"insert into trade_stock_log (journal_id, order_id, goods_id, quantity, status, created_at)
          values ('journal-poisoned', 77, ?, 100, 'reserved', now(3) - interval 1 hour)",
    )
    .bind(poisoned.0)
    .execute(&world.pool)
    .await
    .unwrap();
    // Redis holds far more than MySQL allows; then a reservation touches the goods.
    let key = stock_cache::stock_key(&world.stock.cache, drifting);
    let mut redis = world.stock.cache.conn();
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(50)
        .query_async(&mut redis)
        .await
        .unwrap();
    reserve(&world.stock, Id(3), drifting, 1).await.unwrap();

    world.pass().await;

    assert_eq!(world.truth(drifting).await, 4);
    assert_eq!(world.cached(drifting).await, 4, "the surplus was removed");
    let metrics = world.app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            // The counter: the last pass's gauge belongs to whichever goods-svc of
            // this test process (several run at once) passed last.
            .any(|l| l.starts_with("stock_journal_apply_failures_total") && !l.ends_with(" 0")),
        "the journal is reported in /metrics:\n{metrics}"
    );
    let error: Option<String> = sqlx::query_scalar(
        r"select apply_error from trade_stock_log where journal_id = 'journal-poisoned'",
    )
    .fetch_one(&world.pool)
    .await
    .unwrap();
    assert!(error.is_some_and(|e| e.contains("cannot give")));
}

/// Every key of the service's Redis prefix with its `DUMP`.
async fn dump(world: &World) -> Vec<(String, Vec<u8>)> {
    let mut redis = world.stock.cache.conn();
    let pattern = format!("{}*", world.app.settings.redis_prefix);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut redis)
        .await
        .unwrap();
    let mut dumped = Vec::new();
    for key in keys {
        let value: Vec<u8> = redis::cmd("DUMP")
            .arg(&key)
            .query_async(&mut redis)
            .await
            .unwrap();
        dumped.push((key, value));
    }
    dumped
}

/// Replaces the prefix's keys by `dumped`, as a Redis restarted from an older
/// persistence file (or a lagging replica promoted) would hold them.
async fn restore(world: &World, dumped: &[(String, Vec<u8>)]) {
    let mut redis = world.stock.cache.conn();
    let pattern = format!("{}*", world.app.settings.redis_prefix);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut redis)
        .await
        .unwrap();
    for key in keys {
        let _: () = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut redis)
            .await
            .unwrap();
    }
    for (key, value) in dumped {
        let _: () = redis::cmd("RESTORE")
            .arg(key)
            .arg(0)
            .arg(value.as_slice())
            .arg("REPLACE")
            .query_async(&mut redis)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn redis_back_with_older_data_is_rebuilt_before_a_late_give_back_counts() {
    let world = world().await;
    let goods_id = world.goods(10).await;
    world.pass().await;
    let older = dump(&world).await;
    world.pass().await;
    // A reservation takes 3 units from the newer data, then Redis goes back.
    let (task, gate) = held_reservation(&world, Id(4), goods_id, 3).await;
    let held_since = tokio::time::Instant::now();
    restore(&world, &older).await;

    world.pass().await;
    tokio::time::sleep_until(held_since + RESERVE_TIMEOUT * 2).await;
    gate.release();
    assert!(
        task.await.unwrap().is_err(),
        "the late reservation rolls back"
    );

    assert_eq!(world.truth(goods_id).await, 10);
    assert_eq!(world.cached(goods_id).await, 10, "Redis = MySQL");
    assert_eq!(world.sell_out(goods_id, 100).await, 10, "no unit oversold");
}

#[tokio::test]
async fn a_crash_between_the_cancel_commit_and_the_redis_give_back_is_repaired() {
    let world = world().await;
    let goods_id = world.goods(10).await;
    reserve(&world.stock, Id(5), goods_id, 3).await.unwrap();
    // The cancel commits in MySQL; the process dies before Redis hears of it.
    world.cancel(Id(5), goods_id, 3, false).await;
    assert_eq!(world.truth(goods_id).await, 10);
    // Another reservation is in flight while the reconciler repairs.
    let (task, gate) = held_reservation(&world, Id(6), goods_id, 2).await;
    let held_since = tokio::time::Instant::now();

    world.pass().await;
    tokio::time::sleep_until(held_since + RESERVE_TIMEOUT * 2).await;
    gate.release();
    assert!(
        task.await.unwrap().is_err(),
        "the late reservation rolls back"
    );

    assert_eq!(
        world.cached(goods_id).await,
        10,
        "the give-back was repaired"
    );
    assert_eq!(world.sell_out(goods_id, 100).await, 10, "no unit oversold");
}

/// Statements the stock's only connection has sent so far (this one included).
async fn statements(stock: &Stock) -> i64 {
    let (_, value): (String, String) = sqlx::query_as("show session status like 'Questions'")
        .fetch_one(stock.db.raw_pool())
        .await
        .unwrap();
    value.parse().unwrap()
}

#[tokio::test]
async fn a_reconciler_pass_costs_in_proportion_to_the_goods_that_changed() {
    let world = world().await;
    let mut catalogue = Vec::new();
    for _ in 0..30 {
        catalogue.push(world.goods(10).await);
    }
    // One connection, so its session counts every statement of the pass; no
    // journal is overdue within the test.
    let counted = stock_of(&world.app, 1, StockHooks::default()).await;
    let pass = || reconciler::reconcile_once(&counted, Duration::from_secs(3600));

    let mut costs = Vec::new();
    let mut order = 1000;
    // The first round (one goods item changed) warms the statement cache.
    for changed in [1, 0, 2, 4] {
        for goods_id in catalogue.iter().take(changed) {
            order += 1;
            reserve(&world.stock, Id(order), *goods_id, 1)
                .await
                .unwrap();
        }
        let before = statements(&counted).await;
        pass().await.unwrap();
        costs.push(statements(&counted).await - before - 1);
    }

    eprintln!("statements per pass with 1, 0, 2, 4 goods changed of 30: {costs:?}");
    let (idle, two, four) = (costs[1], costs[2], costs[3]);
    assert!(idle <= 4, "an idle pass costs a few statements: {costs:?}");
    assert!(
        two > idle && four - two == two - idle,
        "each changed goods item costs the same: {costs:?}"
    );
    assert!(
        four - idle <= 4 * 2,
        "one or two statements per changed goods item: {costs:?}"
    );
}
