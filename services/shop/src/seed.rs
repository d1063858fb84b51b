//! The demo data `shop up` (or `shop seed`) creates — user alice with a balance,
//! a phone in stock and a coupon of alice's — and the copy-paste walkthrough that
//! uses them. Seeding again reuses what an earlier seed made.

use shop_kit::{ids::Id, settings::Service};
use sqlx::{AssertSqlSafe, Connection, MySqlConnection};

use crate::{api::ShopApi, target::Target};

/// The demo user, goods item and coupon.
#[derive(Debug, Clone)]
pub struct Demo {
    pub user: Id,
    pub goods: Id,
    pub coupon: Id,
    /// Whether this call created them (else an earlier seed did).
    pub created: bool,
}

/// Finds the demo data an earlier seed made, or creates it.
pub async fn seed(target: &Target) -> anyhow::Result<Demo> {
    let api = ShopApi::new(target);
    let found = find_demo(target).await.unwrap_or(None);
    let mut created = false;
    let user = match found.and_then(|d| d.0) {
        Some(id) => id,
        None => {
            created = true;
            api.user("alice", "10000.00").await?.user_id
        }
    };
    let goods = match found.and_then(|d| d.1) {
        Some(id) => id,
        None => {
            created = true;
            api.goods_item("phone", "5000.00", 100).await?.goods_id
        }
    };
    let coupon = match find_coupon(target, user).await.unwrap_or(None) {
        Some(id) => id,
        None => {
            created = true;
            api.coupon(user, "50.00").await?.coupon_id
        }
    };
    Ok(Demo {
        user,
        goods,
        coupon,
        created,
    })
}

async fn scalar(target: &Target, service: Service, sql: String) -> anyhow::Result<Option<u64>> {
    let url = format!(
        "{}/{}",
        target.config.mysql_url.trim_end_matches('/'),
        target.schema(service)
    );
    let mut conn = MySqlConnection::connect(&url).await?;
    let found: Option<u64> = sqlx::query_scalar(AssertSqlSafe(sql))
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok(found)
}

async fn find_demo(target: &Target) -> anyhow::Result<Option<(Option<Id>, Option<Id>)>> {
    let user = scalar(
        target,
        Service::User,
        "select min(user_id) from trade_user where user_name = 'alice'".into(),
    )
    .await?;
    let goods = scalar(
        target,
        Service::Goods,
        "select min(goods_id) from trade_goods where goods_name = 'phone'".into(),
    )
    .await?;
    Ok(Some((user.map(Id), goods.map(Id))))
}

async fn find_coupon(target: &Target, user: Id) -> anyhow::Result<Option<Id>> {
    let sql = format!(
        "select min(coupon_id) from trade_coupon where user_id = {} and is_used = 0",
        user.0
    );
    Ok(scalar(target, Service::Coupon, sql).await?.map(Id))
}

/// The walkthrough, with this system's URLs and the demo's ids.
pub fn walkthrough(target: &Target, demo: &Demo) -> String {
    let url = |s: Service| target.url(s);
    let (order, goods, coupon, user, pay) = (
        url(Service::Order),
        url(Service::Goods),
        url(Service::Coupon),
        url(Service::User),
        url(Service::Pay),
    );
    let (u, g, c) = (demo.user, demo.goods, demo.coupon);
    format!(
        r#"Demo data: user {u} (alice, balance 10000.00), goods {g} (phone, 5000.00 × 100), coupon {c} (50.00, alice's).

Walkthrough (copy and paste):

  H='content-type: application/json'
  curl -s {user}/users/{u}       # {{"user_id":"{u}","name":"alice","balance":"10000.00","points":0}}
  curl -s {goods}/goods/{g}      # {{"goods_id":"{g}","name":"phone","price":"5000.00","stock":100,"available":100}}
  curl -s {coupon}/coupons/{c}    # {{"coupon_id":"{c}",…,"used":false,…}}

  # 1. Confirm an order: 5000.00 − 50.00 coupon − 100.00 from the balance = 4850.00 to pay
  curl -s -X POST {order}/orders -H "$H" -d '{{"user_id":"{u}","goods_id":"{g}","quantity":1,"goods_price":"5000.00","order_amount":"5000.00","shipping_fee":"0.00","coupon_id":"{c}","money_paid":"100.00","address":"Beijing"}}'
  #    → 201 {{"order_id":"<order_id>","status":"confirmed","pay_status":"unpaid","pay_amount":"4850.00",…}}

  # 2. Pay it: create the payment, then let shop play the payment platform's signed callback
  curl -s -X POST {pay}/payments -H "$H" -d '{{"order_id":"<order_id>"}}'
  #    → 201 {{"pay_id":"<pay_id>","order_id":"<order_id>","amount":"4850.00","status":"unpaid"}}
  shop pay <pay_id>
  curl -s {order}/orders/<order_id>   # → "pay_status":"paid"
  curl -s {user}/users/{u}            # → "balance":"9900.00","points":4850
  curl -s {goods}/goods/{g}           # → "stock":99,"available":99

  # 3. Check every invariant of the whole system
  shop audit

  # 4. Run a scenario against it (or without --running on a system of its own)
  shop scenario success --running
"#
    )
}
