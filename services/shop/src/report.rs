//! What a scenario prints as it goes: a `•` line per step, a `✓`/`✗` line per
//! check, `…` progress lines for long runs. A failed check is an error, so a
//! scenario stops at its first failure.

use std::{
    fmt::{Debug, Display},
    future::Future,
    time::{Duration, Instant},
};

use anyhow::bail;

/// Prints a scenario's steps and checks to stdout.
#[derive(Debug, Default)]
pub struct Report;

impl Report {
    pub fn step(&self, text: impl Display) {
        println!("  • {text}");
    }

    pub fn progress(&self, text: impl Display) {
        println!("    … {text}");
    }

    pub fn pass(&self, text: impl Display) {
        println!("  ✓ {text}");
    }

    pub fn fail(&self, text: impl Display) {
        println!("  ✗ {text}");
    }

    /// `✓ what` when `ok`, else `✗ what` and an error.
    pub fn check(&self, what: impl Display, ok: bool) -> anyhow::Result<()> {
        if ok {
            self.pass(what);
            Ok(())
        } else {
            self.fail(&what);
            bail!("check failed: {what}")
        }
    }

    /// `✓ what` when `got == want`, else `✗` with both values and an error.
    pub fn check_eq<T: PartialEq + Debug>(
        &self,
        what: impl Display,
        got: T,
        want: T,
    ) -> anyhow::Result<()> {
        if got == want {
            self.pass(what);
            Ok(())
        } else {
            let text = format!("{what}: got {got:?}, want {want:?}");
            self.fail(&text);
            bail!("check failed: {text}")
        }
    }

    /// Polls `probe` until it yields a value (`✓ what (in 1.2s)`) or `timeout` passes
    /// (`✗ what`, with the last reason `probe` gave).
    pub async fn eventually<T, F, Fut>(
        &self,
        what: impl Display,
        timeout: Duration,
        mut probe: F,
    ) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        let started = Instant::now();
        loop {
            let last = match probe().await {
                Ok(value) => {
                    self.pass(format!(
                        "{what} (in {:.1}s)",
                        started.elapsed().as_secs_f64()
                    ));
                    return Ok(value);
                }
                Err(reason) => reason,
            };
            if started.elapsed() >= timeout {
                let text = format!("{what}: not within {timeout:?}; last: {last}");
                self.fail(&text);
                bail!("check failed: {text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
