//! Look-ups through the admin HTTP API: `topics`, `message`, `dlq`.

use anyhow::{Context, bail};
use serde_json::Value;

/// GETs `path`; prints the answer as one line, or, when `list_field` is
/// given, one line per element of that array field ("" for a top-level array).
pub async fn get(admin: &str, path: &str, list_field: Option<&str>) -> anyhow::Result<()> {
    let url = format!("http://{admin}{path}");
    let resp = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    let body: Value = resp
        .json()
        .await
        .with_context(|| format!("reading answer of GET {url}"))?;
    if !status.is_success() {
        bail!("GET {url}: {status}: {body}");
    }
    let items = match list_field {
        Some("") => body.as_array().cloned(),
        Some(field) => body[field].as_array().cloned(),
        None => None,
    };
    match items {
        Some(items) => items.iter().for_each(|i| println!("{i}")),
        None => println!("{body}"),
    }
    Ok(())
}
