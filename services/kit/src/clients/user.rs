//! Client of user-svc.

use super::{ClientError, ServiceClient};
use crate::{
    contracts::user::{CreateUser, DeductBalance, MoneyLogView, UserView},
    ids::Id,
    settings::{Service, Settings},
};

/// Typed client of user-svc.
#[derive(Debug, Clone)]
pub struct UserClient(pub(super) ServiceClient);

impl UserClient {
    pub fn new(base_url: impl Into<String>) -> Self {
        UserClient(ServiceClient::new(Service::User, base_url))
    }

    /// The same client, sending the service credential on internal calls.
    pub fn with_internal_token(self, token: &str) -> Self {
        UserClient(self.0.with_internal_token(token))
    }

    pub fn from_settings(settings: &Settings) -> Self {
        UserClient(ServiceClient::from_settings(Service::User, settings))
    }

    pub async fn create_user(&self, body: &CreateUser) -> Result<UserView, ClientError> {
        self.0.post("/users", body).await
    }

    /// The user, or `None` when user-svc does not know it.
    pub async fn get_user(&self, user_id: Id) -> Result<Option<UserView>, ClientError> {
        self.0.get_optional(&format!("/users/{user_id}")).await
    }

    /// Deducts from the user's balance for an order (idempotent by order id).
    pub async fn deduct_balance(
        &self,
        user_id: Id,
        body: &DeductBalance,
    ) -> Result<UserView, ClientError> {
        let path = format!("/internal/users/{user_id}/deduct");
        self.0.post(&path, body).await
    }

    pub async fn money_logs(&self, user_id: Id) -> Result<Vec<MoneyLogView>, ClientError> {
        self.0.get(&format!("/users/{user_id}/money-logs")).await
    }
}
