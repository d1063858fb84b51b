//! `GET /metrics`: the process's Prometheus text, with per-group gauges set at
//! scrape time from the stored offsets and topics: `mq_consumer_lag{group}`
//! (messages stored but not yet acknowledged by the group) and
//! `mq_dead_letter_messages{group}` (messages in the group's dead letter queue).

use std::sync::Arc;

use axum::extract::State;

use crate::broker::BrokerCore;
use crate::storage::index::DLQ_PREFIX;

pub async fn metrics(State(core): State<Arc<BrokerCore>>) -> String {
    for group in core.store.offsets.groups() {
        let lag: u64 = core
            .store
            .offsets
            .of_group(&group)
            .iter()
            .map(|((topic, queue), committed)| {
                let max = core
                    .store
                    .topics
                    .get(topic)
                    .map_or(0, |t| t.queue_range(*queue).1);
                max.saturating_sub(*committed)
            })
            .sum();
        metrics::gauge!("mq_consumer_lag", "group" => group).set(lag as f64);
    }
    for topic in core.store.topics.all() {
        if let Some(group) = topic.name.strip_prefix(DLQ_PREFIX) {
            let messages: u64 = (0..topic.queue_count())
                .map(|q| topic.queue_range(q))
                .map(|(min, max)| max - min)
                .sum();
            metrics::gauge!("mq_dead_letter_messages", "group" => group.to_owned())
                .set(messages as f64);
        }
    }
    crate::metrics::render()
}
