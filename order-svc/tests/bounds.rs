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

/// Found by schemathesis: a quantity written `2.0` (an integer to JSON Schema) was
/// refused as a float; amounts below zero, a quantity beyond 4294967295 and an
/// unknown fault name are refused before anything is asked of the other services.
#[tokio::test]
async fn whole_quantities_may_have_a_zero_fraction_and_bounds_come_first() {
    let shop = Shop::start().await;
    let user = shop.user("1000.00").await;
    let goods = shop.goods_item("100.00", 5).await;
    let before = shop.state(&user, &goods, None).await;
    let good = || order_body(&user, &goods, 2, "100.00", None, "0");
    let with = |field: &str, value: serde_json::Value| {
        let mut body = good();
        body[field] = value;
        body
    };

    for (body, field) in [
        (with("goods_price", json!("-100.00")), "goods_price"),
        (with("order_amount", json!("-200")), "order_amount"),
        (with("shipping_fee", json!(-1)), "shipping_fee"),
        (with("goods_price", json!(100.5)), "goods_price"),
        (with("quantity", json!(2.5)), "quantity"),
        (with("user_id", json!("01")), "user_id"),
        (with("coupon_id", json!("")), "coupon_id"),
        (with("address", json!(7)), "address"),
    ] {
        assert_invalid_field(shop.order(&body, None).await, field).await;
    }
    let too_many = shop
        .order(&with("quantity", json!(4294967296_i64)), None)
        .await;
    shop_testkit::assert_error(too_many, 400, "INVALID_QUANTITY").await;
    let no_fault = shop.order(&good(), Some("after-nothing")).await;
    assert_invalid_field(no_fault, "x-shop-fault").await;
    assert_eq!(shop.state(&user, &goods, None).await, before);

    let confirmed = shop.order(&with("quantity", json!(2.0)), None).await;
    assert_eq!(confirmed.status(), 201);
    assert_eq!(json(confirmed).await["quantity"], 2);
}

/// `GET /orders?limit=`: the document states an integer from 1 to 100; anything else
/// (empty, signed, repeated) is refused naming `limit`.
#[tokio::test]
async fn the_order_list_limit_is_an_integer_from_1_to_100() {
    let shop = Shop::start().await;
    for query in [
        "limit=",
        "limit=0",
        "limit=101",
        "limit=%2B5",
        "limit=1.5",
        "limit=1&limit=2",
    ] {
        let response = shop.orders.get(&format!("/orders?{query}")).await;
        assert_invalid_field(response, "limit").await;
    }
    for query in ["", "?limit=1", "?limit=100"] {
        let response = shop.orders.get(&format!("/orders{query}")).await;
        assert_eq!(response.status(), 200, "{query}");
    }
}
