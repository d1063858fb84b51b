//! Fault points of a reservation, for tests: a [`Gate`] holds a reservation at a
//! named place until the test releases it, so a test orders events (a half send
//! held past `STOCK_RESERVE_TIMEOUT`, a commit that lands after its caller gave up)
//! by waiting for conditions instead of sleeping. Production code runs with
//! [`StockHooks::default`]: every point is a no-op.

use std::sync::Arc;

use tokio::sync::watch;

/// A place where a reservation waits: it signals that it got there, then waits
/// for [`Gate::release`].
#[derive(Debug)]
pub struct Gate {
    reached: watch::Sender<bool>,
    released: watch::Sender<bool>,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            reached: watch::channel(false).0,
            released: watch::channel(false).0,
        }
    }
}

impl Gate {
    pub fn new() -> Arc<Gate> {
        Arc::new(Gate::default())
    }

    /// Waits until a reservation got to the gate.
    pub async fn reached(&self) {
        let mut seen = self.reached.subscribe();
        let _ = seen.wait_for(|reached| *reached).await;
    }

    /// Lets the reservation (and every later one) through.
    pub fn release(&self) {
        self.released.send_replace(true);
    }

    /// Called by the reservation: signals, then waits for the release.
    pub async fn pass(&self) {
        self.reached.send_replace(true);
        let mut released = self.released.subscribe();
        let _ = released.wait_for(|released| *released).await;
    }
}

/// The fault points of [`super::Stock`]; all off by default.
#[derive(Debug, Clone, Default)]
pub struct StockHooks {
    /// Holds a reservation after its Redis decrement, before its half message is
    /// sent (a slow broker).
    pub before_half: Option<Arc<Gate>>,
    /// Loses the outcome of the journal's `COMMIT`: the commit is handed to a task
    /// that waits for this gate (the server still working on it), and the writer
    /// sees a broken connection at once.
    pub lose_commit_outcome: Option<Arc<Gate>>,
}

impl StockHooks {
    pub(crate) async fn before_half(&self) {
        if let Some(gate) = &self.before_half {
            gate.pass().await;
        }
    }
}
