//! Assignment of a subscription's queues to its members (clustering): queues
//! are dealt to the members sorted by id, so every member computes the same
//! split and each queue has exactly one owner.

/// For each queue index, the index (into `members`) of its owner.
pub fn assign(queue_count: usize, member_count: usize) -> Vec<Option<usize>> {
    (0..queue_count)
        .map(|q| (member_count > 0).then_some(q % member_count.max(1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_are_dealt_evenly_and_nobody_owns_without_members() {
        assert_eq!(assign(4, 2), vec![Some(0), Some(1), Some(0), Some(1)]);
        assert_eq!(assign(2, 0), vec![None, None]);
        assert_eq!(assign(1, 3), vec![Some(0)]);
    }
}
