//! Goods about to be created.

use shop_kit::{contracts::goods::CreateGoods, error::InvalidRequest, money::Money, validate};

/// Valid new goods: a name, a price of zero or more, a whole stock of zero or more.
#[derive(Debug, Clone, PartialEq)]
pub struct NewGoods {
    pub name: String,
    pub price: Money,
    pub stock: u32,
}

impl TryFrom<CreateGoods> for NewGoods {
    type Error = InvalidRequest;

    fn try_from(body: CreateGoods) -> Result<Self, Self::Error> {
        Ok(NewGoods {
            name: validate::name("name", &body.name)?,
            price: validate::not_negative("price", body.price)?,
            stock: validate::count("stock", body.stock)?,
        })
    }
}
