//! order-svc: see the library.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    services::server::run_main::<order_svc::App>().await
}
