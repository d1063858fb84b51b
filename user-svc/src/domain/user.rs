//! A user about to be created.

use shop_kit::{contracts::user::CreateUser, error::InvalidRequest, money::Money, validate};

/// A valid new user: a name and a balance of zero or more.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    pub name: String,
    pub balance: Money,
}

impl TryFrom<CreateUser> for NewUser {
    type Error = InvalidRequest;

    fn try_from(body: CreateUser) -> Result<Self, Self::Error> {
        Ok(NewUser {
            name: validate::name("name", &body.name)?,
            balance: validate::not_negative("balance", body.balance)?,
        })
    }
}
