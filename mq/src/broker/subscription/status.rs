//! Snapshots of a subscription for the admin API and the dashboard.

use super::{MemberId, Subscription};

/// A snapshot for the admin API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SubStatus {
    pub group: String,
    pub topic: String,
    pub tag_expr: String,
    pub members: Vec<MemberStatus>,
    pub queues: Vec<QueueStatus>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct MemberStatus {
    pub id: MemberId,
    pub peer: String,
    pub inflight: u32,
    /// Bytes queued on its connection that the client has not read yet.
    pub outbound_queued_bytes: usize,
    pub queues: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct QueueStatus {
    pub topic: String,
    pub queue: u32,
    pub committed: u64,
    pub max_offset: u64,
    pub lag: u64,
    pub inflight: usize,
}

impl Subscription {
    pub(super) fn status(&self) -> SubStatus {
        let queues: Vec<QueueStatus> = self
            .cursors
            .iter()
            .map(|c| {
                let max = c.topic.queue_range(c.queue).1;
                QueueStatus {
                    topic: c.topic.name.clone(),
                    queue: c.queue,
                    committed: c.committed,
                    max_offset: max,
                    lag: max.saturating_sub(c.committed),
                    inflight: c.inflight.len(),
                }
            })
            .collect();
        let members = self
            .members
            .iter()
            .map(|m| MemberStatus {
                id: m.id,
                peer: m.peer.clone(),
                inflight: m.inflight,
                outbound_queued_bytes: m.frames.queued(),
                queues: self
                    .cursors
                    .iter()
                    .filter(|c| c.owner == Some(m.id))
                    .map(|c| format!("{}#{}", c.topic.name, c.queue))
                    .collect(),
            })
            .collect();
        SubStatus {
            group: self.group.clone(),
            topic: self.topic.name.clone(),
            tag_expr: self.filter.to_string(),
            members,
            queues,
        }
    }
}
