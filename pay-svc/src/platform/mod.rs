//! The payment-platform port: what pay-svc asks of the platform that moves the money.
//! Today that is refunds; charges arrive as the platform's signed callbacks.
//!
//! [`PaymentPlatform`] is the port; [`dev::DevPlatform`] its development
//! implementation, which keeps its own book of refunds in pay-svc's database and
//! answers as a platform does (idempotent by our refund id). A real platform's
//! adapter implements the same trait.

pub mod dev;

use std::{future::Future, pin::Pin, sync::Arc};

use shop_kit::money::Money;

/// A refund asked of the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    /// Our refund id: the platform treats a repeated request with it as the same
    /// refund (its idempotency key).
    pub out_refund_no: String,
    /// The platform transaction (charge) to refund.
    pub trade_no: String,
    pub amount: Money,
    pub reason: String,
}

/// The platform's answer to an accepted refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundReceipt {
    /// The platform's own number for the refund.
    pub platform_refund_no: String,
}

/// Why the platform did not refund.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// It could not be asked (or did not answer): ask again later.
    #[error("payment platform unavailable: {0}")]
    Unavailable(String),
    /// It refused the refund for good (unknown transaction, amount above the charge).
    #[error("payment platform refused the refund: {0}")]
    Refused(String),
}

/// A boxed future, so that the port can be a trait object.
pub type PlatformFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The payment platform, as pay-svc uses it.
pub trait PaymentPlatform: Send + Sync + 'static {
    /// Gives `request.amount` of the charge `request.trade_no` back to the payer;
    /// asking again with the same `out_refund_no` answers the same receipt.
    fn refund<'a>(
        &'a self,
        request: &'a RefundRequest,
    ) -> PlatformFuture<'a, Result<RefundReceipt, PlatformError>>;
}

/// The platform handlers and workers share.
pub type Platform = Arc<dyn PaymentPlatform>;
