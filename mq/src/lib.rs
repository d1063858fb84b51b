//! The Shop message broker (skeleton).
