//! `GET /`: a small HTML page with the topics, live subscriptions and their
//! lag, for a person looking at the broker. It reloads itself every 5 s.

use std::fmt::Write;

use axum::extract::State;
use axum::response::Html;

use super::Core;

pub async fn page(State(core): Core) -> Html<String> {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=utf-8><title>mq broker</title>\
         <meta http-equiv=refresh content=5><style>body{font-family:sans-serif;margin:2em}\
         table{border-collapse:collapse;margin-bottom:2em}td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}\
         </style></head><body><h1>mq broker</h1>",
    );
    let _ = write!(
        html,
        "<p>log size: {} bytes</p><h2>Topics</h2><table><tr><th>topic</th><th>queues</th><th>messages retained</th></tr>",
        core.store.log_bytes()
    );
    for t in core.store.topics.all() {
        let messages: u64 = (0..t.queue_count())
            .map(|q| t.queue_range(q))
            .map(|(a, b)| b - a)
            .sum();
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&t.name),
            t.queue_count(),
            messages
        );
    }
    html.push_str("</table><h2>Subscriptions</h2><table><tr><th>group</th><th>topic</th><th>tags</th><th>members</th><th>lag</th><th>in flight</th></tr>");
    for s in core.subscriptions(None) {
        if let Some(st) = s.status().await {
            let lag: u64 = st.queues.iter().map(|q| q.lag).sum();
            let inflight: usize = st.queues.iter().map(|q| q.inflight).sum();
            let _ = write!(
                html,
                "<tr><td><a href=\"/groups/{g}\">{g}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{lag}</td><td>{inflight}</td></tr>",
                escape(&st.topic),
                escape(&st.tag_expr),
                st.members.len(),
                g = escape(&st.group),
            );
        }
    }
    html.push_str("</table><p><a href=\"/topics\">/topics</a> · <a href=\"/metrics\">/metrics</a></p></body></html>");
    Html(html)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
