//! Concurrent buyers: many orders at once for little stock, for one coupon and for
//! one balance. No unit is sold twice, the coupon serves one order, the balance
//! never goes below zero.

use std::collections::BTreeMap;

use futures::future::join_all;
use shop_kit::contracts::order::ConfirmOrder;

use super::{Ctx, State};
use crate::api::{Placed, order_body};

/// Places every order of `bodies` at once; the answers' codes, counted.
async fn race(
    ctx: &Ctx,
    bodies: Vec<ConfirmOrder>,
) -> anyhow::Result<(Vec<Placed>, BTreeMap<String, usize>)> {
    let placed: Vec<Placed> = join_all(bodies.iter().map(|b| ctx.api.place(b, None)))
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let mut codes = BTreeMap::new();
    for p in &placed {
        *codes.entry(p.code().to_string()).or_insert(0) += 1;
    }
    Ok((placed, codes))
}

pub async fn concurrent_buyers(ctx: &Ctx) -> anyhow::Result<()> {
    let r = &ctx.report;
    let stock = 20;
    let f = ctx.fixture("10000.00", "10.00", stock, None).await?;
    let mut buyers = vec![f.user.user_id];
    for _ in 1..8 {
        buyers.push(ctx.api.user("scenario-buyer", "10000.00").await?.user_id);
    }
    r.step(format!(
        "8 buyers, goods {} with {stock} units; 3 waves of 16 orders at once",
        f.goods.goods_id
    ));
    let mut confirmed = 0;
    let mut refused = BTreeMap::new();
    for wave in 1..=3 {
        let bodies = (0..16)
            .map(|i| order_body(buyers[i % 8], &f.goods, 1, None, "20.00"))
            .collect();
        let (_, codes) = race(ctx, bodies).await?;
        for (code, n) in codes {
            if code == "CONFIRMED" {
                confirmed += n;
            } else {
                *refused.entry(code).or_insert(0) += n;
            }
        }
        r.progress(format!(
            "wave {wave}: {confirmed} confirmed so far, refused {refused:?}"
        ));
    }
    r.check(
        format!("{confirmed} confirmed, at most the {stock} units"),
        confirmed <= stock as usize,
    )?;
    let only_stock = refused.keys().all(|c| c == "STOCK_NOT_ENOUGH");
    r.check(
        format!("every unit sold when the only refusal is STOCK_NOT_ENOUGH ({refused:?})"),
        !only_stock || confirmed == stock as usize,
    )?;
    let id = f.goods.goods_id;
    let left = stock - confirmed as i64;
    r.eventually(
        format!("stock and available settle at {left}"),
        ctx.settle(),
        || async move {
            match ctx.api.goods_view(id).await {
                Ok(g) if g.stock == left && g.available == left => Ok(()),
                Ok(g) => Err(format!("stock {}, available {}", g.stock, g.available)),
                Err(e) => Err(format!("{e:#}")),
            }
        },
    )
    .await?;

    let c = ctx.fixture("10000.00", "10.00", 100, Some("5.00")).await?;
    let bodies = (0..8)
        .map(|_| order_body(c.user.user_id, &c.goods, 1, c.coupon_id(), "15.00"))
        .collect();
    let (placed, codes) = race(ctx, bodies).await?;
    r.check_eq(
        format!("8 orders with one coupon at once: one confirmed ({codes:?})"),
        codes.get("CONFIRMED").copied(),
        Some(1),
    )?;
    let winner = placed.iter().find_map(|p| match p {
        Placed::Confirmed(o) => Some(o.order_id),
        _ => None,
    });
    let coupon = ctx
        .api
        .coupon_view(c.coupon_id().expect("made with a coupon"))
        .await?;
    r.check_eq("the coupon names that order", coupon.order_id, winner)?;

    let b = ctx.fixture("100.00", "20.00", 100, None).await?;
    let bodies = (0..8)
        .map(|_| order_body(b.user.user_id, &b.goods, 1, None, "30.00"))
        .collect();
    let (_, codes) = race(ctx, bodies).await?;
    let won = codes.get("CONFIRMED").copied().unwrap_or(0);
    r.check(
        format!("8 orders of 30.00 on a balance of 100.00 at once: {won} confirmed ({codes:?})"),
        (1..=3).contains(&won),
    )?;
    let balance = format!("{}.00", 100 - 30 * won);
    let want = State {
        balance: balance.clone(),
        stock: 100 - won as i64,
        available: 100 - won as i64,
        coupon_used: false,
        points: 0,
    };
    ctx.settles_to(&format!("balance {balance}, never below zero"), &b, &want)
        .await
}
