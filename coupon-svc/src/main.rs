//! coupon-svc: see the library.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shop_kit::server::run_main::<coupon_svc::App>().await
}
