//! A coupon about to be created.

use shop_kit::{
    contracts::coupon::CreateCoupon, error::InvalidRequest, ids::Id, money::Money, validate,
};

/// A valid new coupon: its owner and a value of more than zero.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCoupon {
    pub user_id: Id,
    pub value: Money,
}

impl TryFrom<CreateCoupon> for NewCoupon {
    type Error = InvalidRequest;

    fn try_from(body: CreateCoupon) -> Result<Self, Self::Error> {
        Ok(NewCoupon {
            user_id: body.user_id,
            value: validate::positive("value", body.value)?,
        })
    }
}
