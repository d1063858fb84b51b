//! Bounded input on `POST /orders`: a field beyond its bound answers 400
//! `INVALID_REQUEST` naming it and writes nothing; at the bound it is accepted.

use serde_json::json;
use shop_testkit::{assert_invalid_field, json};
use testshop::{Shop, order_body};

#[tokio::test]
async fn an_address_of_300_characters_is_refused_naming_it_and_one_of_255_is_kept() {
    let shop = Shop::start().await;
    let user = shop.user("1000.00").await;
    let goods = shop.goods_item("100.00", 5).await;
    let mut body = order_body(&user, &goods, 1, "100.00", None, "0");
    let before = shop.state(&user, &goods, None).await;

    body["address"] = json!("a".repeat(300));
    assert_invalid_field(shop.order(&body, None).await, "address").await;
    let orders = "select count(*) from trade_order";
    assert_eq!(shop.count(&shop.orders, orders).await, 0, "nothing saved");
    assert_eq!(shop.state(&user, &goods, None).await, before);

    let longest = "长".repeat(255);
    body["address"] = json!(longest);
    let confirmed = shop.order(&body, None).await;
    assert_eq!(confirmed.status(), 201);
    assert_eq!(json(confirmed).await["address"], longest);
}
