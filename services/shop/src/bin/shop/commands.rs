//! `shop pay`, `shop seed`, `shop audit` and `shop scenario`.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use shop::{
    Ctx, Managed, SCENARIOS, Timings, audit, chaos::ChaosOptions, launcher::Programs,
    managed::default_bin_dir, report::Report, scenario, seed,
};
use shop_kit::{
    clients::PayClient,
    contracts::pay::CallbackStatus,
    ids::Id,
    settings::{DEV_PAY_CALLBACK_SECRET, parse_duration},
};

use crate::{SystemArgs, TimingArgs};

#[derive(Args)]
pub struct PayArgs {
    /// The payment (`pay_id` of `POST /payments`).
    pay_id: String,
    /// Report the payment as failed instead of paid.
    #[arg(long)]
    failed: bool,
    /// The platform's transaction number (default: made up).
    #[arg(long)]
    trade_no: Option<String>,
    #[arg(long, env = "PAY_SVC_URL", default_value = "http://127.0.0.1:8085")]
    pay_svc_url: String,
    /// The secret pay-svc checks callbacks with.
    #[arg(long, env = "PAY_CALLBACK_SECRET", default_value = DEV_PAY_CALLBACK_SECRET, hide_default_value = true)]
    secret: String,
}

pub async fn pay(args: PayArgs) -> anyhow::Result<bool> {
    let pay_id = Id::parse(&args.pay_id)
        .with_context(|| format!("{:?} is not a payment id", args.pay_id))?;
    let status = if args.failed {
        CallbackStatus::Failed
    } else {
        CallbackStatus::Paid
    };
    let trade_no = args.trade_no.unwrap_or_else(|| {
        let now = chrono::Utc::now().format("%Y%m%d%H%M%S");
        format!("SHOP{now}{pay_id}")
    });
    let client = PayClient::new(&args.pay_svc_url);
    client
        .callback(&args.secret, pay_id, status, Some(trade_no.clone()))
        .await
        .with_context(|| format!("callback to {}", args.pay_svc_url))?;
    println!("callback sent: payment {pay_id} {status:?}, trade_no {trade_no}");
    if let Some(payment) = client.get_payment(pay_id).await? {
        println!("{}", serde_json::to_string(&payment)?);
    }
    Ok(true)
}

pub async fn seed(args: SystemArgs) -> anyhow::Result<bool> {
    let target = args.target(Duration::ZERO, Duration::ZERO)?;
    let demo = seed::seed(&target).await?;
    if !demo.created {
        println!("(the demo data of an earlier seed is still there)");
    }
    println!("{}", seed::walkthrough(&target, &demo));
    Ok(true)
}

#[derive(Args)]
pub struct AuditArgs {
    #[command(flatten)]
    system: SystemArgs,
    #[command(flatten)]
    timings: TimingArgs,
    /// Audit again until every invariant holds or this much time passes (a busy
    /// system settles); 0 audits once.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    settle: Duration,
}

pub async fn audit(args: AuditArgs) -> anyhow::Result<bool> {
    let target = args
        .system
        .target(args.timings.pay_timeout, args.timings.abandon_after)?;
    println!(
        "Auditing the schemas shop_*{} on {} …",
        target.config.schema_suffix, target.config.mysql_url
    );
    let started = Instant::now();
    loop {
        let report = audit::audit(&target).await;
        if report.passed() || started.elapsed() >= args.settle {
            report.print();
            let failed = report.failures().len();
            if failed == 0 {
                println!("All {} invariants hold.", report.invariants.len());
            } else {
                println!(
                    "{failed} of {} invariants do not hold.",
                    report.invariants.len()
                );
            }
            return Ok(failed == 0);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[derive(Args)]
pub struct ScenarioArgs {
    /// A scenario's name, `all`, or `list`.
    name: String,
    /// Run against the system `shop up` started (same settings) instead of starting one.
    #[arg(long)]
    running: bool,
    #[command(flatten)]
    system: SystemArgs,
    #[command(flatten)]
    timings: TimingArgs,
    /// How long the chaos scenario runs.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    duration: Duration,
    /// Clients of the chaos scenario.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Keep the managed system's logs (they are kept anyway when a scenario fails).
    #[arg(long)]
    keep_logs: bool,
}

pub async fn scenario(args: ScenarioArgs) -> anyhow::Result<bool> {
    if args.name == "list" {
        for s in SCENARIOS {
            let managed = if s.managed_only {
                " (managed only)"
            } else {
                ""
            };
            println!("  {:<18} {}{managed}", s.name, s.about);
        }
        return Ok(true);
    }
    let names: Vec<&str> = if args.name == "all" {
        SCENARIOS.iter().map(|s| s.name).collect()
    } else {
        vec![args.name.as_str()]
    };
    if let Some(unknown) = names.iter().find(|n| scenario::find(n).is_none()) {
        anyhow::bail!("no scenario {unknown:?}: `shop scenario list` shows them");
    }
    let mut ctx = if args.running {
        let target = args
            .system
            .target(args.timings.pay_timeout, args.timings.abandon_after)?;
        Ctx::running(target)
    } else {
        println!("Starting a managed system (its own schemas, Redis and ports; short timeouts) …");
        let managed = match &args.system.bin_dir {
            Some(bin_dir) => {
                Managed::start(bin_dir, &args.system.mysql_url, Timings::fast()).await?
            }
            None => {
                let programs = Programs::Serve(std::env::current_exe()?);
                let mysql = &args.system.mysql_url;
                Managed::start_with(programs, &default_bin_dir(), mysql, Timings::fast()).await?
            }
        };
        println!("  logs in {}", managed.log_dir().display());
        Ctx::managed(managed)
    };
    ctx.chaos = ChaosOptions {
        duration: args.duration,
        clients: args.clients,
    };
    let started = Instant::now();
    let mut outcome = Ok(());
    for name in &names {
        let skip = !ctx.is_managed() && scenario::find(name).is_some_and(|s| s.managed_only);
        if skip && names.len() > 1 {
            Report.step(format!("{name}: skipped, it needs a managed system"));
            continue;
        }
        outcome = scenario::run(&ctx, name).await;
        if outcome.is_err() {
            break;
        }
    }
    let kept = ctx.stop(args.keep_logs || outcome.is_err()).await;
    if let Some(dir) = kept {
        println!("logs kept in {}/logs", dir.display());
    }
    let elapsed = started.elapsed().as_secs_f64();
    match outcome {
        Ok(()) => {
            println!("\n{} scenario(s) passed in {elapsed:.1}s", names.len());
            Ok(true)
        }
        Err(e) => {
            println!("\nFAILED after {elapsed:.1}s: {e:#}");
            Ok(false)
        }
    }
}
