//! order-svc: see the library.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shop_kit::server::run_main::<order_svc::App>().await
}
