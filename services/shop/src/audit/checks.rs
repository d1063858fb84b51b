//! The invariants, one query (or two) each. Tables of different services are read
//! side by side with schema-qualified names: the services share one MariaDB server
//! in development and in docker compose, and the audit is an operator's tool.

use std::time::Duration;

use rust_decimal::Decimal;
use shop_kit::settings::Service;
use sqlx::{AssertSqlSafe, FromRow, MySqlPool, mysql::MySqlRow};

use super::AuditReport;
use crate::target::Target;

/// Offenders listed in a failed invariant's detail.
const SHOWN: usize = 5;

pub struct Auditor<'a> {
    pub target: &'a Target,
    pub pool: &'a MySqlPool,
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    let shown: Vec<String> = items.iter().take(SHOWN).map(ToString::to_string).collect();
    let more = items.len().saturating_sub(SHOWN);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("{}{tail}", shown.join("; "))
}

impl Auditor<'_> {
    /// `template` with `{order}`, `{goods}`, `{coupon}`, `{user}`, `{pay}` replaced
    /// by the system's schema names.
    fn sql(&self, template: &str) -> String {
        Service::ALL.iter().fold(template.to_string(), |sql, s| {
            sql.replace(
                &format!("{{{}}}", s.name()),
                &format!("`{}`", self.target.schema(*s)),
            )
        })
    }

    async fn rows<T>(&self, template: &str) -> anyhow::Result<Vec<T>>
    where
        T: for<'r> FromRow<'r, MySqlRow> + Send + Unpin,
    {
        let sql = self.sql(template);
        Ok(sqlx::query_as(AssertSqlSafe(sql))
            .fetch_all(self.pool)
            .await?)
    }

    async fn count(&self, template: &str) -> anyhow::Result<i64> {
        let sql = self.sql(template);
        Ok(sqlx::query_scalar(AssertSqlSafe(sql))
            .fetch_one(self.pool)
            .await?)
    }

    pub async fn run(&self, report: &mut AuditReport) {
        let abandon = self.target.timings.abandon_deadline();
        let overdue = format!("orders: none unconfirmed past the abandon deadline ({abandon:?})");
        let checks = vec![
            (
                "stock: initial = MySQL stock + applied journals",
                self.stock().await,
            ),
            (
                "stock: Redis available = MySQL stock − reserved journals − owed give-backs",
                self.redis_stock().await,
            ),
            (
                "stock: no journal that cannot be applied",
                self.unapplicable_journals().await,
            ),
            (
                "balance: initial − paid + refunded = balance (money logs)",
                self.balances().await,
            ),
            (
                "points: each user's points = points of earned payments",
                self.points().await,
            ),
            (
                "coupons: each used by at most one live order, the one holding it",
                self.coupons().await,
            ),
            (
                "orders: none both cancelled and paid",
                self.cancelled_and_paid().await,
            ),
            (overdue.as_str(), self.unconfirmed(abandon).await),
            (
                "orders agree with stock journals and money logs",
                self.order_parts().await,
            ),
            ("payments agree with their orders", self.payments().await),
            (
                "payments: money charged = money kept + money refunded",
                self.charges().await,
            ),
            (
                "money logs: none without an order",
                self.orphans(ORPHAN_MONEY_LOGS).await,
            ),
            (
                "stock journals: none without an order",
                self.orphans(ORPHAN_JOURNALS).await,
            ),
            (
                "coupon uses: none without an order",
                self.orphans(ORPHAN_COUPON_USES).await,
            ),
            (
                "payments: none without an order",
                self.orphans(ORPHAN_PAYMENTS).await,
            ),
            (
                "outboxes drained (order-svc, pay-svc)",
                self.outboxes().await,
            ),
            (
                "consumer logs: no message failed or dead-lettered",
                self.consumer_logs().await,
            ),
        ];
        for (name, outcome) in checks {
            match outcome {
                Ok((passed, detail)) => report.push(name, passed, detail),
                Err(e) => report.push(name, false, format!("could not check: {e:#}")),
            }
        }
    }

    /// Per goods: id, initial, stock, applied, reserved and owed (units of cancels
    /// not yet given back to Redis, subtracted from the reserved figure).
    async fn goods_rows(&self) -> anyhow::Result<Vec<(u64, i64, i64, i64, i64)>> {
        self.rows(
            r"select g.goods_id, cast(g.initial_number as signed), cast(g.goods_number as signed),
                     cast(coalesce(sum(case when l.status = 'applied' then l.quantity end), 0) as signed),
                     cast(coalesce(sum(case when l.status = 'reserved' or l.giveback_pending = 1
                                            then l.quantity end), 0) as signed)
              from {goods}.trade_goods g
              left join {goods}.trade_stock_log l on l.goods_id = g.goods_id
              group by g.goods_id order by g.goods_id",
        )
        .await
    }

    async fn stock(&self) -> anyhow::Result<(bool, String)> {
        let goods = self.goods_rows().await?;
        let bad: Vec<String> = goods
            .iter()
            .filter(|(_, initial, stock, applied, _)| initial != &(stock + applied))
            .map(|(id, initial, stock, applied, _)| {
                format!("goods {id}: initial {initial} ≠ stock {stock} + applied {applied}")
            })
            .collect();
        Ok(verdict(bad, format!("{} goods items", goods.len())))
    }

    async fn redis_stock(&self) -> anyhow::Result<(bool, String)> {
        let goods = self.goods_rows().await?;
        let cache = shop_kit::cache::Cache::connect_lazy(
            &self.target.config.redis_url,
            &self.target.goods_redis_prefix(),
        )?;
        let mut conn = cache.conn();
        tokio::time::timeout(Duration::from_secs(3), cache.ping(Duration::from_secs(3)))
            .await
            .ok()
            .filter(|up| *up)
            .ok_or_else(|| anyhow::anyhow!("Redis did not answer"))?;
        let (mut bad, mut cached) = (Vec::new(), 0);
        for chunk in goods.chunks(500) {
            let keys: Vec<String> = chunk
                .iter()
                .map(|g| goods_svc::store::stock_cache::stock_key(&cache, shop_kit::ids::Id(g.0)))
                .collect();
            let values: Vec<Option<i64>> =
                redis::cmd("MGET").arg(keys).query_async(&mut conn).await?;
            for ((id, _, stock, _, reserved), value) in chunk.iter().zip(values) {
                // A missing key is not drift: goods-svc rebuilds it from MySQL on use.
                let Some(available) = value else { continue };
                cached += 1;
                if available != stock - reserved || available < 0 {
                    bad.push(format!(
                        "goods {id}: Redis {available} ≠ stock {stock} − reserved {reserved}"
                    ));
                }
            }
        }
        Ok(verdict(
            bad,
            format!("{cached} of {} goods items cached", goods.len()),
        ))
    }

    async fn balances(&self) -> anyhow::Result<(bool, String)> {
        let users: Vec<(u64, Decimal, Decimal, Decimal, Decimal)> = self
            .rows(
                r"select u.user_id, u.initial_balance, u.user_money,
                         coalesce((select sum(l.use_money) from {user}.trade_user_money_log l
                                    where l.user_id = u.user_id and l.money_log_type = 'paid'), 0),
                         coalesce((select sum(l.use_money) from {user}.trade_user_money_log l
                                    where l.user_id = u.user_id and l.money_log_type = 'refund'), 0)
                  from {user}.trade_user u order by u.user_id",
            )
            .await?;
        let bad: Vec<String> = users
            .iter()
            .filter(|(_, initial, balance, paid, refunded)| initial - paid + refunded != *balance)
            .map(|(id, initial, balance, paid, refunded)| {
                format!("user {id}: {initial} − {paid} + {refunded} ≠ {balance}")
            })
            .collect();
        Ok(verdict(bad, format!("{} users", users.len())))
    }

    async fn points(&self) -> anyhow::Result<(bool, String)> {
        let bad: Vec<(u64, i64, i64)> = self
            .rows(
                r"select u.user_id, cast(u.user_score as signed) as score,
                         cast(coalesce(sum(case when p.status = 'earned' then p.points end), 0) as signed) as earned
                  from {user}.trade_user u
                  left join {user}.trade_user_points_log p on p.user_id = u.user_id
                  group by u.user_id, u.user_score having score <> earned",
            )
            .await?;
        let bad: Vec<String> = bad
            .iter()
            .map(|(id, score, earned)| format!("user {id}: points {score} ≠ earned {earned}"))
            .collect();
        Ok(verdict(bad, "every user".into()))
    }

    async fn coupons(&self) -> anyhow::Result<(bool, String)> {
        let shared: Vec<(u64, i64)> = self
            .rows(
                r"select coupon_id, count(*) from {order}.trade_order
                  where coupon_id is not null and status <> 'cancelled'
                  group by coupon_id having count(*) > 1",
            )
            .await?;
        let held_by_dead: Vec<(u64, u64)> = self
            .rows(
                r"select c.coupon_id, c.order_id from {coupon}.trade_coupon c
                  join {order}.trade_order o on o.order_id = c.order_id
                  where c.is_used = 1 and o.status = 'cancelled'",
            )
            .await?;
        let not_held: Vec<(u64, u64)> = self
            .rows(
                r"select o.order_id, o.coupon_id from {order}.trade_order o
                  left join {coupon}.trade_coupon c on c.coupon_id = o.coupon_id
                  where o.coupon_id is not null and o.status = 'confirmed'
                    and (c.is_used is null or c.is_used = 0 or c.order_id is null or c.order_id <> o.order_id)",
            )
            .await?;
        let mut bad: Vec<String> = shared
            .iter()
            .map(|(c, n)| format!("coupon {c} on {n} live orders"))
            .collect();
        bad.extend(
            held_by_dead
                .iter()
                .map(|(c, o)| format!("coupon {c} used by order {o} which is cancelled")),
        );
        bad.extend(
            not_held
                .iter()
                .map(|(o, c)| format!("confirmed order {o} does not hold its coupon {c}")),
        );
        let used = self
            .count(r"select count(*) from {coupon}.trade_coupon where is_used = 1")
            .await?;
        Ok(verdict(bad, format!("{used} coupons in use")))
    }

    async fn cancelled_and_paid(&self) -> anyhow::Result<(bool, String)> {
        let ids: Vec<(u64,)> = self
            .rows(r"select order_id from {order}.trade_order where status = 'cancelled' and pay_status = 'paid'")
            .await?;
        let cancelled = self
            .count(r"select count(*) from {order}.trade_order where status = 'cancelled'")
            .await?;
        let bad: Vec<String> = ids.iter().map(|(id,)| format!("order {id}")).collect();
        Ok(verdict(bad, format!("{cancelled} cancelled orders")))
    }

    async fn unconfirmed(&self, deadline: Duration) -> anyhow::Result<(bool, String)> {
        let sql = format!(
            r"select order_id from {{order}}.trade_order
              where status = 'unconfirmed' and timestampdiff(microsecond, created_at, now(3)) > {}",
            deadline.as_micros()
        );
        let ids: Vec<(u64,)> = self.rows(&sql).await?;
        let pending = self
            .count(r"select count(*) from {order}.trade_order where status = 'unconfirmed'")
            .await?;
        let bad: Vec<String> = ids.iter().map(|(id,)| format!("order {id}")).collect();
        Ok(verdict(bad, format!("{pending} unconfirmed, none overdue")))
    }

    async fn order_parts(&self) -> anyhow::Result<(bool, String)> {
        let journals: Vec<(u64, String, Option<String>)> = self
            .rows(
                r"select o.order_id, cast(o.status as char), cast(l.status as char)
                  from {order}.trade_order o
                  left join {goods}.trade_stock_log l on l.order_id = o.order_id and l.goods_id = o.goods_id
                  where (o.status = 'confirmed' and (l.status is null or l.status = 'cancelled'))
                     or (o.status = 'cancelled' and l.status in ('reserved', 'applied'))
                     or (l.quantity is not null and l.quantity <> o.quantity)",
            )
            .await?;
        let money: Vec<(u64, String)> = self
            .rows(
                r"select o.order_id, cast(o.status as char) from {order}.trade_order o
                  left join {user}.trade_user_money_log p on p.order_id = o.order_id and p.money_log_type = 'paid'
                  left join {user}.trade_user_money_log r on r.order_id = o.order_id and r.money_log_type = 'refund'
                  where (o.status = 'confirmed' and o.money_paid > 0 and (p.order_id is null or r.order_id is not null))
                     or (o.status = 'cancelled' and p.order_id is not null and r.order_id is null)
                     or (p.order_id is not null and p.use_money <> o.money_paid)",
            )
            .await?;
        let mut bad: Vec<String> = journals
            .iter()
            .map(|(o, s, j)| {
                format!(
                    "{s} order {o} has journal {}",
                    j.as_deref().unwrap_or("none")
                )
            })
            .collect();
        bad.extend(
            money
                .iter()
                .map(|(o, s)| format!("{s} order {o}: money log disagrees")),
        );
        let orders = self
            .count(r"select count(*) from {order}.trade_order")
            .await?;
        Ok(verdict(bad, format!("{orders} orders")))
    }

    async fn payments(&self) -> anyhow::Result<(bool, String)> {
        let mismatched: Vec<(u64, String, String)> = self
            .rows(
                r"select p.pay_id, cast(p.status as char), cast(o.pay_status as char)
                  from {pay}.trade_pay p join {order}.trade_order o on o.order_id = p.order_id
                  where (p.status = 'paid' and o.pay_status <> 'paid')
                     or (p.status = 'refunded' and o.pay_status <> 'refunded')
                     or (o.pay_status = 'refunded' and p.status <> 'refunded')",
            )
            .await?;
        let unpaid: Vec<(u64,)> = self
            .rows(
                r"select o.order_id from {order}.trade_order o
                  where o.pay_status = 'paid' and o.pay_amount > 0 and not exists
                    (select 1 from {pay}.trade_pay p where p.order_id = o.order_id and p.status = 'paid')",
            )
            .await?;
        let mut bad: Vec<String> = mismatched
            .iter()
            .map(|(p, ps, os)| format!("payment {p} {ps}, its order {os}"))
            .collect();
        bad.extend(
            unpaid
                .iter()
                .map(|(o,)| format!("order {o} paid without a paid payment")),
        );
        let paid = self
            .count(r"select count(*) from {pay}.trade_pay where status = 'paid'")
            .await?;
        Ok(verdict(bad, format!("{paid} paid payments")))
    }

    /// Per payment: what the platform charged (`trade_pay_charge`) is what the shop
    /// kept (the amount of a payment that is `paid`) plus what it gave back (refunds
    /// that `succeeded`).
    async fn charges(&self) -> anyhow::Result<(bool, String)> {
        let payments: Vec<(u64, String, Decimal, Decimal, Decimal)> = self
            .rows(
                r"select p.pay_id, cast(p.status as char), p.pay_amount,
                         coalesce((select sum(c.amount) from {pay}.trade_pay_charge c
                                    where c.pay_id = p.pay_id), 0),
                         coalesce((select sum(r.amount) from {pay}.trade_pay_refund r
                                    where r.pay_id = p.pay_id and r.status = 'succeeded'), 0)
                  from {pay}.trade_pay p order by p.pay_id",
            )
            .await?;
        let (mut charged_total, mut refunded_total) = (Decimal::ZERO, Decimal::ZERO);
        let mut bad = Vec::new();
        for (pay_id, status, amount, charged, refunded) in &payments {
            let kept = if status == "paid" {
                *amount
            } else {
                Decimal::ZERO
            };
            charged_total += charged;
            refunded_total += refunded;
            if *charged != kept + refunded {
                bad.push(format!(
                    "payment {pay_id} ({status}): charged {charged} ≠ kept {kept} + refunded {refunded}"
                ));
            }
        }
        Ok(verdict(
            bad,
            format!(
                "{} payments: charged {charged_total}, refunded {refunded_total}",
                payments.len()
            ),
        ))
    }

    async fn outboxes(&self) -> anyhow::Result<(bool, String)> {
        let mut bad = Vec::new();
        for service in [Service::Order, Service::Pay] {
            let sql = format!(
                "select count(*) from {{{}}}.trade_mq_producer_temp where status = 'pending'",
                service.name()
            );
            let pending = self.count(&sql).await?;
            if pending > 0 {
                bad.push(format!("{}: {pending} pending", service.binary()));
            }
        }
        Ok(verdict(bad, "no pending rows".into()))
    }

    /// A message whose effect failed and was not applied since: still being
    /// retried by the broker, or dead-lettered for good. (`processing` is written
    /// only inside the effect's own transaction, so no committed row holds it.)
    async fn consumer_logs(&self) -> anyhow::Result<(bool, String)> {
        let (mut bad, mut handled) = (Vec::new(), 0);
        for service in Service::ALL {
            let sql = format!(
                "select count(*) from {{{}}}.trade_mq_consumer_log",
                service.name()
            );
            handled += self.count(&sql).await?;
            let sql = format!(
                r"select group_name, msg_tag, msg_key, coalesce(msg_id, ''),
                         cast(attempts as signed), coalesce(last_error, '')
                  from {{{}}}.trade_mq_consumer_log
                  where status <> 'success' order by updated_at limit 20",
                service.name()
            );
            let failed: Vec<(String, String, String, String, i64, String)> =
                self.rows(&sql).await?;
            bad.extend(failed.into_iter().map(|(group, tag, key, id, attempts, error)| {
                let error: String = error.chars().take(120).collect();
                format!(
                    "{}: message {id} ({group} {tag} {key}) failed {attempts} times: {error}",
                    service.binary()
                )
            }));
        }
        Ok(verdict(bad, format!("{handled} messages handled")))
    }

    /// Journals the reconciler could not apply to MySQL stock (it keeps trying).
    async fn unapplicable_journals(&self) -> anyhow::Result<(bool, String)> {
        let rows: Vec<(String, u64, String)> = self
            .rows(
                r"select journal_id, goods_id, apply_error from {goods}.trade_stock_log
                  where status = 'reserved' and apply_error is not null order by created_at",
            )
            .await?;
        let bad: Vec<String> = rows
            .iter()
            .map(|(j, g, e)| format!("journal {j} of goods {g}: {e}"))
            .collect();
        Ok(verdict(bad, "every journal applies".into()))
    }

    /// Rows of another service naming an order order-svc does not have: an effect
    /// nobody ordered (`query` lists them, `counted` what was looked at).
    async fn orphans(&self, orphan: Orphan) -> anyhow::Result<(bool, String)> {
        let rows: Vec<(String,)> = self.rows(orphan.query).await?;
        let bad: Vec<String> = rows.into_iter().map(|(row,)| row).collect();
        let counted = self.count(orphan.counted).await?;
        Ok(verdict(bad, format!("{counted} {}", orphan.what)))
    }
}

/// One kind of effect that must name an existing order.
struct Orphan {
    query: &'static str,
    counted: &'static str,
    what: &'static str,
}

const ORPHAN_MONEY_LOGS: Orphan = Orphan {
    query: r"select concat('user ', l.user_id, ' ', l.money_log_type, ' ', l.use_money,
                           ' for order ', l.order_id)
             from {user}.trade_user_money_log l
             left join {order}.trade_order o on o.order_id = l.order_id
             where o.order_id is null",
    counted: r"select count(*) from {user}.trade_user_money_log",
    what: "money logs",
};

const ORPHAN_JOURNALS: Orphan = Orphan {
    query: r"select concat('journal ', l.journal_id, ' (', l.status, ') for order ', l.order_id)
             from {goods}.trade_stock_log l
             left join {order}.trade_order o on o.order_id = l.order_id
             where o.order_id is null",
    counted: r"select count(*) from {goods}.trade_stock_log",
    what: "stock journals",
};

const ORPHAN_COUPON_USES: Orphan = Orphan {
    query: r"select concat('coupon ', c.coupon_id, ' used by order ', c.order_id)
             from {coupon}.trade_coupon c
             left join {order}.trade_order o on o.order_id = c.order_id
             where c.order_id is not null and o.order_id is null",
    counted: r"select count(*) from {coupon}.trade_coupon where order_id is not null",
    what: "coupon uses",
};

const ORPHAN_PAYMENTS: Orphan = Orphan {
    query: r"select concat('payment ', p.pay_id, ' (', p.status, ') for order ', p.order_id)
             from {pay}.trade_pay p
             left join {order}.trade_order o on o.order_id = p.order_id
             where o.order_id is null",
    counted: r"select count(*) from {pay}.trade_pay",
    what: "payments",
};

/// Passed when `bad` is empty; the detail is `ok` or the first offenders.
fn verdict(bad: Vec<String>, ok: String) -> (bool, String) {
    if bad.is_empty() {
        (true, ok)
    } else {
        (false, list(&bad))
    }
}
