//! Every charge accounted for: a second charge of a settled payment is recorded and
//! refunded through the payment platform (`duplicate_charge`), shown with the
//! payment; transaction numbers up to 128 characters are kept, longer ones refused.

mod common;

use common::*;
use serde_json::{Value, json};
use shop_testkit::{assert_invalid_field, eventually, json};
use testshop::{SETTLE, Shop};

fn paid_with(pay_id: &str, trade_no: &str) -> String {
    json!({"pay_id": pay_id, "status": "paid", "trade_no": trade_no}).to_string()
}

async fn paid_payment(shop: &Shop) -> (PayableOrder, String) {
    let order = payable_order(shop).await;
    let (_, payment) = create_payment(&shop.pay, &order.order_id).await;
    let pay_id = payment["pay_id"].as_str().unwrap().to_owned();
    pay(&shop.pay, &pay_id).await;
    order_pay_status_becomes(shop, &order.order_id, "paid").await;
    (order, pay_id)
}

async fn succeeded_refunds(shop: &Shop, pay_id: &str, expected: usize) -> Value {
    eventually("the refunds are made", SETTLE, || async {
        let refunds = payment(&shop.pay, pay_id).await["refunds"].clone();
        let list = refunds.as_array()?;
        (list.len() == expected && list.iter().all(|r| r["status"] == "succeeded"))
            .then_some(refunds)
    })
    .await
}

#[tokio::test]
async fn a_second_paid_callback_with_another_trade_no_is_recorded_and_refunded_as_a_duplicate_charge()
 {
    let shop = Shop::start().await;
    let (order, pay_id) = paid_payment(&shop).await;

    // The platform charges the payer a second time and says so.
    let second = signed_callback(&shop.pay, &paid_with(&pay_id, "T-SECOND"), &[]).await;
    assert_eq!(second.status(), 200);
    assert_eq!(json(second).await, json!({"result": "ok"}));

    let refunds = succeeded_refunds(&shop, &pay_id, 1).await;
    assert_eq!(refunds[0]["trade_no"], "T-SECOND");
    assert_eq!(refunds[0]["amount"], "200.00");
    assert_eq!(refunds[0]["reason"], "duplicate_charge");
    assert!(refunds[0]["refund_id"].is_string(), "{refunds}");
    assert!(refunds[0]["created_at"].is_string(), "{refunds}");
    // The payment and its order stay paid: the first charge is kept.
    let now = payment(&shop.pay, &pay_id).await;
    assert_eq!(now["status"], "paid");
    assert_eq!(shop.order_json(&order.order_id).await["pay_status"], "paid");

    // Replays of either charge change nothing more; a third charge is refunded too.
    for body in [
        paid_with(&pay_id, "T-SECOND"),
        callback_body(&pay_id, "paid"),
    ] {
        let replay = signed_callback(&shop.pay, &body, &[]).await;
        assert_eq!(replay.status(), 200);
    }
    let third = signed_callback(&shop.pay, &paid_with(&pay_id, "T-THIRD"), &[]).await;
    assert_eq!(third.status(), 200);
    let refunds = succeeded_refunds(&shop, &pay_id, 2).await;
    assert_eq!(refunds[1]["trade_no"], "T-THIRD");

    let charges = "select count(*) from trade_pay_charge";
    assert_eq!(count(&shop.pay, charges).await, 3, "three charges recorded");
    let platform = "select count(*) from dev_platform_refund";
    assert_eq!(count(&shop.pay, platform).await, 2, "two refunds asked");
    // Points were earned once, for the kept charge.
    shop.drained("user-pay-paid").await;
    assert_eq!(points(&shop, &order.user_id).await, 200);
}

#[tokio::test]
async fn a_trade_no_of_128_characters_is_kept_and_one_of_200_is_refused_naming_the_field() {
    let shop = Shop::start().await;
    let order = payable_order(&shop).await;
    let (_, payment_body) = create_payment(&shop.pay, &order.order_id).await;
    let pay_id = payment_body["pay_id"].as_str().unwrap().to_owned();

    let too_long = "T".repeat(200);
    let refused = signed_callback(&shop.pay, &paid_with(&pay_id, &too_long), &[]).await;
    assert_invalid_field(refused, "trade_no").await;
    assert_eq!(payment(&shop.pay, &pay_id).await["status"], "unpaid");

    let longest = "N".repeat(128);
    let accepted = signed_callback(&shop.pay, &paid_with(&pay_id, &longest), &[]).await;
    assert_eq!(accepted.status(), 200, "{}", json(accepted).await);
    order_pay_status_becomes(&shop, &order.order_id, "paid").await;
    let kept: String = sqlx::query_scalar("select trade_no from trade_pay where pay_id = ?")
        .bind(pay_id.parse::<u64>().unwrap())
        .fetch_one(&shop.pay.db().await)
        .await
        .unwrap();
    assert_eq!(kept, longest);

    // A second charge with a 128-character number is refunded like any other.
    let other = "M".repeat(128);
    let second = signed_callback(&shop.pay, &paid_with(&pay_id, &other), &[]).await;
    assert_eq!(second.status(), 200);
    let refunds = succeeded_refunds(&shop, &pay_id, 1).await;
    assert_eq!(refunds[0]["trade_no"], other);
}
