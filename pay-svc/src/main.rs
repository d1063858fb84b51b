//! pay-svc: see the library.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    services::server::run_main::<pay_svc::App>().await
}
