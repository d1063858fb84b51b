//! `shop audit`: reads every service's tables (and goods-svc's Redis stock) and
//! checks the invariants that must hold across the whole system once it is quiet:
//! stock, balances, coupons, orders, payments, outboxes and consumer logs. Each
//! invariant is printed with pass or fail; every scenario ends with an audit that
//! must pass.

mod checks;

use std::time::{Duration, Instant};

use sqlx::{MySqlPool, mysql::MySqlPoolOptions};

use crate::{report::Report, target::Target};

/// One invariant and whether it held.
#[derive(Debug, Clone)]
pub struct Invariant {
    pub name: String,
    pub passed: bool,
    /// What was counted, or the first offenders.
    pub detail: String,
}

/// The outcome of one audit.
#[derive(Debug, Clone, Default)]
pub struct AuditReport {
    pub invariants: Vec<Invariant>,
}

impl AuditReport {
    pub fn passed(&self) -> bool {
        !self.invariants.is_empty() && self.invariants.iter().all(|i| i.passed)
    }

    pub fn failures(&self) -> Vec<&Invariant> {
        self.invariants.iter().filter(|i| !i.passed).collect()
    }

    /// `✓`/`✗` line per invariant.
    pub fn print(&self) {
        for i in &self.invariants {
            let mark = if i.passed { "✓" } else { "✗" };
            println!("  {mark} {}: {}", i.name, i.detail);
        }
    }

    fn push(&mut self, name: impl Into<String>, passed: bool, detail: impl Into<String>) {
        self.invariants.push(Invariant {
            name: name.into(),
            passed,
            detail: detail.into(),
        });
    }
}

/// Reads the system's state once and checks every invariant. An unreachable
/// database or Redis is a failed invariant, not an error.
pub async fn audit(target: &Target) -> AuditReport {
    let mut report = AuditReport::default();
    let pool = match connect(&target.config.mysql_url).await {
        Ok(pool) => pool,
        Err(e) => {
            report.push("MariaDB reachable", false, format!("{e:#}"));
            return report;
        }
    };
    let audit = checks::Auditor {
        target,
        pool: &pool,
    };
    audit.run(&mut report).await;
    pool.close().await;
    report
}

/// Audits until every invariant holds or `timeout` passes (a system that was just
/// busy settles: consumers catch up, relays resend, sweeps run), then prints the
/// last report. `Err` when it never passed.
pub async fn settled_audit(
    target: &Target,
    timeout: Duration,
    report: &Report,
) -> anyhow::Result<AuditReport> {
    let started = Instant::now();
    report.step("audit: the global invariants");
    loop {
        let outcome = audit(target).await;
        if outcome.passed() || started.elapsed() >= timeout {
            outcome.print();
            if outcome.passed() {
                report.pass(format!(
                    "audit passed (settled in {:.1}s)",
                    started.elapsed().as_secs_f64()
                ));
                return Ok(outcome);
            }
            let names: Vec<&str> = outcome.failures().iter().map(|i| i.name.as_str()).collect();
            report.fail(format!(
                "audit failed after {timeout:?}: {}",
                names.join("; ")
            ));
            anyhow::bail!("audit failed: {}", names.join("; "));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn connect(mysql_url: &str) -> anyhow::Result<MySqlPool> {
    let pool = MySqlPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect(mysql_url)
        .await?;
    Ok(pool)
}
