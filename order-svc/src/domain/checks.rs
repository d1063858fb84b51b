//! The checks of docs/architecture.md, "Confirm order", as a pure function of the
//! request and the state read from user-svc, goods-svc and coupon-svc: every amount the
//! client states is recomputed here, and each failed check has its own code.

use rust_decimal::Decimal;
use shop_kit::{
    contracts::{coupon::CouponView, goods::GoodsView, order::ConfirmOrder, user::UserView},
    ids::Id,
    money::Money,
};

/// Orders above this amount ship free; the others pay [`SHIPPING_FEE`].
pub const FREE_SHIPPING_ABOVE: Decimal = Decimal::from_parts(100, 0, 0, false, 0);
/// The shipping fee of an order of [`FREE_SHIPPING_ABOVE`] or less.
pub const SHIPPING_FEE: Decimal = Decimal::from_parts(10, 0, 0, false, 0);

/// Why an order is refused before anything is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no such user")]
    UserNotFound,
    #[error("no such goods")]
    GoodsNotFound,
    #[error("goods_price is not the current price {current}")]
    PriceMismatch { current: Money },
    #[error("quantity must be at least 1")]
    InvalidQuantity,
    #[error("not enough stock: {available} available")]
    StockNotEnough { available: i64 },
    #[error("order_amount must be goods_price × quantity = {expected}")]
    OrderAmountInvalid { expected: Money },
    #[error("shipping_fee must be {expected}")]
    ShippingFeeInvalid { expected: Money },
    #[error("money_paid must not be negative")]
    MoneyPaidInvalid,
    #[error("money_paid is more than the balance")]
    BalanceNotEnough,
    #[error("no such coupon")]
    CouponNotFound,
    #[error("the coupon belongs to another user")]
    CouponNotOwned,
    #[error("the coupon is used")]
    CouponUsed,
    #[error("pay_amount would be negative ({pay_amount})")]
    PayAmountNegative { pay_amount: Decimal },
}

/// What the services answered about the order's user, goods and coupon (`None`:
/// unknown there).
#[derive(Debug, Clone)]
pub struct Facts {
    pub user: Option<UserView>,
    pub goods: Option<GoodsView>,
    /// `None` also when the order has no coupon.
    pub coupon: Option<CouponView>,
}

/// A checked order: ids and amounts as they will be saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedOrder {
    pub user_id: Id,
    pub goods_id: Id,
    pub quantity: u32,
    pub goods_price: Money,
    pub order_amount: Money,
    pub shipping_fee: Money,
    pub coupon_id: Option<Id>,
    pub coupon_paid: Money,
    pub money_paid: Money,
    pub pay_amount: Money,
    pub address: String,
}

/// Runs every check in the order of docs/architecture.md, "Confirm order".
pub fn check(request: &ConfirmOrder, facts: &Facts) -> Result<CheckedOrder, Refusal> {
    let (user_id, goods_id, coupon_id) = (request.user_id, request.goods_id, request.coupon_id);
    let user = facts.user.as_ref().ok_or(Refusal::UserNotFound)?;
    let goods = facts.goods.as_ref().ok_or(Refusal::GoodsNotFound)?;
    if request.goods_price != goods.price {
        return Err(Refusal::PriceMismatch {
            current: goods.price,
        });
    }
    if request.quantity < 1 || request.quantity > i64::from(u32::MAX) {
        return Err(Refusal::InvalidQuantity);
    }
    if request.quantity > goods.available {
        return Err(Refusal::StockNotEnough {
            available: goods.available.max(0),
        });
    }
    let quantity = request.quantity as u32;
    let order_amount =
        money(goods.price.decimal() * Decimal::from(quantity)).ok_or(Refusal::InvalidQuantity)?;
    if request.order_amount != order_amount {
        return Err(Refusal::OrderAmountInvalid {
            expected: order_amount,
        });
    }
    let shipping_fee = money(shipping_fee(order_amount.decimal())).expect("a small constant");
    if request.shipping_fee != shipping_fee {
        return Err(Refusal::ShippingFeeInvalid {
            expected: shipping_fee,
        });
    }
    if request.money_paid.is_negative() {
        return Err(Refusal::MoneyPaidInvalid);
    }
    if request.money_paid > user.balance {
        return Err(Refusal::BalanceNotEnough);
    }
    let coupon_paid = match coupon_id {
        None => Money::ZERO,
        Some(_) => {
            let coupon = facts.coupon.as_ref().ok_or(Refusal::CouponNotFound)?;
            if coupon.user_id != user_id {
                return Err(Refusal::CouponNotOwned);
            }
            if coupon.used {
                return Err(Refusal::CouponUsed);
            }
            coupon.value
        }
    };
    let pay_amount = order_amount.decimal() + shipping_fee.decimal()
        - coupon_paid.decimal()
        - request.money_paid.decimal();
    if pay_amount.is_sign_negative() && !pay_amount.is_zero() {
        return Err(Refusal::PayAmountNegative { pay_amount });
    }
    Ok(CheckedOrder {
        user_id,
        goods_id,
        quantity,
        goods_price: goods.price,
        order_amount,
        shipping_fee,
        coupon_id,
        coupon_paid,
        money_paid: request.money_paid,
        pay_amount: money(pay_amount).ok_or(Refusal::InvalidQuantity)?,
        address: request.address.trim().to_owned(),
    })
}

/// 0 when `order_amount` is more than 100, else 10.
pub fn shipping_fee(order_amount: Decimal) -> Decimal {
    if order_amount > FREE_SHIPPING_ABOVE {
        Decimal::ZERO
    } else {
        SHIPPING_FEE
    }
}

fn money(value: Decimal) -> Option<Money> {
    Money::new(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str) -> Money {
        text.parse().unwrap()
    }

    fn request() -> ConfirmOrder {
        ConfirmOrder {
            user_id: Id(1),
            goods_id: Id(2),
            quantity: 1,
            goods_price: m("5000.00"),
            order_amount: m("5000.00"),
            shipping_fee: m("0"),
            coupon_id: Some(Id(3)),
            money_paid: m("100.00"),
            address: "Beijing".into(),
        }
    }

    fn facts() -> Facts {
        Facts {
            user: Some(UserView {
                user_id: Id(1),
                name: "alice".into(),
                balance: m("10000.00"),
                points: 0,
            }),
            goods: Some(GoodsView {
                goods_id: Id(2),
                name: "phone".into(),
                price: m("5000.00"),
                stock: 10,
                available: 10,
            }),
            coupon: Some(CouponView {
                coupon_id: Id(3),
                user_id: Id(1),
                value: m("50.00"),
                used: false,
                order_id: None,
                used_at: None,
            }),
        }
    }

    #[test]
    fn the_seed_example_computes_pay_amount_after_coupon_and_balance() {
        let order = check(&request(), &facts()).unwrap();
        assert_eq!(order.coupon_paid, m("50.00"));
        assert_eq!(order.pay_amount, m("4850.00"));
        assert_eq!(order.coupon_id, Some(Id(3)));
    }

    #[test]
    fn small_orders_pay_ten_for_shipping() {
        assert_eq!(shipping_fee(m("100.00").decimal()), SHIPPING_FEE);
        assert_eq!(shipping_fee(m("100.01").decimal()), Decimal::ZERO);
    }

    #[test]
    fn each_failed_check_has_its_own_refusal() {
        let f = facts();
        type Change = Box<dyn Fn(&mut ConfirmOrder, &mut Facts)>;
        let cases: Vec<(Change, Refusal)> = vec![
            (Box::new(|_, f| f.user = None), Refusal::UserNotFound),
            (Box::new(|_, f| f.goods = None), Refusal::GoodsNotFound),
            (
                Box::new(|r, _| r.goods_price = m("4999")),
                Refusal::PriceMismatch { current: m("5000") },
            ),
            (Box::new(|r, _| r.quantity = 0), Refusal::InvalidQuantity),
            (
                Box::new(|r, _| r.quantity = 11),
                Refusal::StockNotEnough { available: 10 },
            ),
            (
                Box::new(|r, _| r.order_amount = m("1")),
                Refusal::OrderAmountInvalid {
                    expected: m("5000"),
                },
            ),
            (
                Box::new(|r, _| r.shipping_fee = m("10")),
                Refusal::ShippingFeeInvalid { expected: m("0") },
            ),
            (
                Box::new(|r, _| r.money_paid = m("-1")),
                Refusal::MoneyPaidInvalid,
            ),
            (
                Box::new(|r, _| r.money_paid = m("10000.01")),
                Refusal::BalanceNotEnough,
            ),
            (Box::new(|_, f| f.coupon = None), Refusal::CouponNotFound),
            (
                Box::new(|_, f| f.coupon.as_mut().unwrap().user_id = Id(9)),
                Refusal::CouponNotOwned,
            ),
            (
                Box::new(|_, f| f.coupon.as_mut().unwrap().used = true),
                Refusal::CouponUsed,
            ),
            (
                Box::new(|r, _| r.money_paid = m("5000")),
                Refusal::PayAmountNegative {
                    pay_amount: m("-50").decimal(),
                },
            ),
        ];
        for (change, expected) in cases {
            let (mut r, mut f) = (request(), f.clone());
            change(&mut r, &mut f);
            assert_eq!(check(&r, &f), Err(expected));
        }
    }
}
