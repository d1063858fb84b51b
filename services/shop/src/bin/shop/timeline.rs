//! `shop timeline <order_id>`: one order's story across the services and the broker,
//! as order-svc's `GET /orders/{order_id}/timeline` tells it, printed for a terminal.

use anyhow::Context;
use clap::Args;
use shop_kit::{
    clients::OrderClient,
    contracts::timeline::{Timeline, TimelineEvent},
    ids::Id,
};

#[derive(Args)]
pub struct TimelineArgs {
    /// The order (`order_id` of `POST /orders`).
    order_id: String,
    #[arg(long, env = "ORDER_SVC_URL", default_value = "http://127.0.0.1:8081")]
    order_svc_url: String,
    /// Print the JSON answer instead of lines.
    #[arg(long)]
    json: bool,
}

pub async fn timeline(args: TimelineArgs) -> anyhow::Result<bool> {
    let order_id = Id::parse(&args.order_id)
        .with_context(|| format!("{:?} is not an order id", args.order_id))?;
    let client = OrderClient::new(&args.order_svc_url);
    let Some(timeline) = client
        .timeline(order_id)
        .await
        .with_context(|| format!("asking {}", args.order_svc_url))?
    else {
        println!("order {order_id}: not found");
        return Ok(false);
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&timeline)?);
    } else {
        print!("{}", render(&timeline));
    }
    Ok(true)
}

/// The timeline as aligned lines: time, service, kind, outcome, request id, detail.
pub fn render(timeline: &Timeline) -> String {
    let mut out = format!(
        "order {}: {} events{}\n",
        timeline.order_id,
        timeline.events.len(),
        if timeline.complete { "" } else { " (PARTIAL)" }
    );
    for missing in &timeline.missing {
        out.push_str(&format!(
            "  missing {}: {}\n",
            missing.service, missing.reason
        ));
    }
    for event in &timeline.events {
        out.push_str(&line(event));
        out.push('\n');
    }
    out
}

fn line(e: &TimelineEvent) -> String {
    let detail = summary(&e.detail);
    format!(
        "{}  {:<10} {:<18} {:<17} {:<36}  {}",
        e.at.format("%H:%M:%S%.3f"),
        e.service,
        e.kind,
        e.outcome,
        e.request_id.as_deref().unwrap_or("-"),
        detail
    )
}

/// `k=v` pairs of the detail's scalar fields; lists and objects as their length.
fn summary(detail: &serde_json::Value) -> String {
    let Some(map) = detail.as_object() else {
        return detail.to_string();
    };
    map.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            serde_json::Value::Array(items) if k == "groups" => {
                let groups: Vec<String> = items
                    .iter()
                    .map(|g| {
                        format!(
                            "{}:{}",
                            g["group"].as_str().unwrap_or("?"),
                            g["state"].as_str().unwrap_or("?")
                        )
                    })
                    .collect();
                format!("groups=[{}]", groups.join(" "))
            }
            serde_json::Value::Array(items) => format!(
                "{k}=[{}]",
                items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}
