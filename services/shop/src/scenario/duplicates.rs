//! Duplicate deliveries: every message of a paid order and of a rolled-back one is
//! delivered again (re-sent to the broker as it was stored), every step of the
//! confirmation is repeated, and the callback is replayed at once; nothing changes.

use std::collections::BTreeSet;

use anyhow::bail;
use mq::{Message, Producer};
use shop_kit::{
    contracts::{coupon::UseCoupon, goods::ReserveStock, order::PayStatus, user::DeductBalance},
    ids::Id,
};

use super::{Ctx, State, basic::confirmed, pay::wait_drained};
use crate::api::{Placed, money, order_body};

pub async fn duplicates(ctx: &Ctx) -> anyhow::Result<()> {
    let r = &ctx.report;
    let f = ctx.fixture("1000.00", "120.50", 10, Some("20.00")).await?;
    let body = order_body(f.user.user_id, &f.goods, 2, f.coupon_id(), "41.00");
    let paid = confirmed(
        r,
        "order A: 2 × 120.50, coupon, 41.00 of balance",
        ctx.api.place(&body, None).await?,
    )?;
    let payment = ctx.api.create_payment(paid.order_id).await?;
    ctx.api.callback_paid(payment.pay_id).await?;
    ctx.order_becomes("order A paid", paid.order_id, ctx.settle(), |o| {
        o.pay_status == PayStatus::Paid
    })
    .await?;
    let body = order_body(f.user.user_id, &f.goods, 1, None, "10.00");
    let Placed::Refused {
        order_id: Some(cancelled),
        ..
    } = ctx.api.place(&body, Some("after-balance")).await?
    else {
        bail!("order B with fault after-balance was not cancelled");
    };
    r.pass(format!(
        "order B {cancelled} rolled back (fault after-balance)"
    ));
    let settled = State {
        balance: "959.00".into(),
        stock: 8,
        available: 8,
        coupon_used: true,
        points: 180,
    };
    ctx.settles_to(
        "settled: A sold and paid (180 points), B given back",
        &f,
        &settled,
    )
    .await?;
    wait_drained(ctx).await?;
    let journals = ctx.api.stock_logs(f.goods.goods_id).await?;

    // Every message about the two orders, delivered again.
    let mut keys: Vec<(&str, String)> = vec![
        ("order", paid.order_id.to_string()),
        ("order", cancelled.to_string()),
        ("pay", payment.pay_id.to_string()),
    ];
    keys.extend(journals.iter().map(|j| ("stock", j.journal_id.clone())));
    let sent = redeliver(ctx, &keys).await?;
    let tags: Vec<String> = sent
        .iter()
        .map(|(tag, key)| format!("{tag}:{key}"))
        .collect();
    r.check(
        format!("re-delivered {} messages ({})", sent.len(), tags.join(", ")),
        sent.len() >= 4,
    )?;

    // Every step of order A repeated, and B's refused after its cancel.
    let reserve = |order_id: Id, quantity| ReserveStock {
        order_id,
        goods_id: f.goods.goods_id,
        quantity,
    };
    let again = ctx
        .api
        .goods
        .reserve_stock(&reserve(paid.order_id, 2))
        .await?;
    let first = journals
        .iter()
        .find(|j| j.order_id == paid.order_id)
        .map(|j| j.journal_id.clone());
    r.check_eq(
        "reserve stock again for A: the same journal",
        Some(again.journal_id),
        first,
    )?;
    let coupon = f.coupon_id().expect("made with a coupon");
    let used = ctx
        .api
        .coupons
        .use_coupon(
            coupon,
            &UseCoupon {
                order_id: paid.order_id,
                user_id: f.user.user_id,
            },
        )
        .await?;
    r.check_eq(
        "use the coupon again for A: still A's",
        used.order_id,
        Some(paid.order_id),
    )?;
    let deduct = DeductBalance {
        order_id: paid.order_id,
        amount: money("41.00"),
    };
    ctx.api
        .users
        .deduct_balance(f.user.user_id, &deduct)
        .await?;
    r.pass("deduct A's balance again: accepted");
    let refused = ctx.api.goods.reserve_stock(&reserve(cancelled, 1)).await;
    let code = refused.err().and_then(|e| e.code().map(String::from));
    r.check_eq(
        "reserve stock for cancelled B: ORDER_CANCELLED",
        code.as_deref(),
        Some("ORDER_CANCELLED"),
    )?;

    let replays = (0..5).map(|_| ctx.api.callback_paid(payment.pay_id));
    for replay in futures::future::join_all(replays).await {
        replay?;
    }
    r.pass("A's callback replayed 5 times at once");

    wait_drained(ctx).await?;
    r.check_eq(
        "balance, stock, available, coupon and points unchanged",
        ctx.state(&f).await?,
        settled,
    )?;
    let a = ctx.api.order(paid.order_id).await?;
    let b = ctx.api.order(cancelled).await?;
    r.check_eq(
        "A still paid, B still cancelled",
        (a.pay_status, b.status),
        (
            PayStatus::Paid,
            shop_kit::contracts::order::OrderStatus::Cancelled,
        ),
    )
}

/// Sends again, as it was stored, every message of `keys` (topic and key): once per
/// tag and key. Returns the (tag, key) pairs sent.
async fn redeliver(
    ctx: &Ctx,
    keys: &[(&str, String)],
) -> anyhow::Result<BTreeSet<(String, String)>> {
    let mut sent = BTreeSet::new();
    #[cfg(feature = "rocketmq")]
    if let Some(rocketmq) = &ctx.api.rocketmq {
        use anyhow::Context as _;
        use shop_kit::bus::{Backend, Message};
        for (topic, key) in keys {
            let found = rocketmq.0.lookup_key(topic, key).await;
            for stored in found.with_context(|| format!("look up {topic} {key}"))? {
                if !sent.insert((stored.tag.clone(), key.clone())) {
                    continue;
                }
                let mut message = Message::new(*topic, stored.body.clone())
                    .with_tag(stored.tag.clone())
                    .with_key(key.clone());
                message.properties = stored.properties.clone();
                rocketmq
                    .0
                    .send_batch(vec![message])
                    .await
                    .with_context(|| format!("send {topic} {key} again"))?;
            }
        }
        return Ok(sent);
    }
    let producer = Producer::connect(&ctx.target.config.mq_addr()).await?;
    for (topic, key) in keys {
        for stored in producer.lookup_key(topic, key).await? {
            if stored.store_topic != *topic || !sent.insert((stored.tag.clone(), key.clone())) {
                continue;
            }
            let mut message = Message::new(*topic, stored.body.clone())
                .with_tag(stored.tag.clone())
                .with_key(key.clone());
            for (name, value) in &stored.properties {
                message = message.with_property(name.clone(), value.clone());
            }
            producer.send(message).await?;
        }
    }
    producer.close().await;
    Ok(sent)
}
