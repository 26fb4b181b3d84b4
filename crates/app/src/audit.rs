//! `baton audit`: one plans audit, with exactly the folders given.
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::json;

use baton_pipeline::audit::Folders;

use baton_cli::Ctx;

#[derive(clap::Args)]
pub struct AuditArgs {
    /// A plans folder (repeatable). Default: the folders baton.toml grants the audit plugin.
    #[arg(long = "plans", value_name = "DIR")]
    plans: Vec<PathBuf>,
    /// A repository the plans' deliverables live in (repeatable). Default: the plans folders.
    #[arg(long = "repo", value_name = "DIR")]
    repos: Vec<PathBuf>,
    /// Where reports are written. Default: <home>/reports.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print `{"plans": [...], "false_claims": [...], "status_conflicts": [...], "unreadable":
    /// [...], "moved": "..."}` on
    /// stdout; each deliverable has the plan's own `path` and the host path it `resolved` to
    /// (a renamed one is `moved`, with `moved_to`).
    #[arg(long)]
    json: bool,
    /// Write a report even if nothing changed since the last one.
    #[arg(long)]
    force: bool,
}

pub fn run(args: AuditArgs, ctx: &Ctx) -> Result<i32> {
    baton_cli::home_check::require(&ctx.home)?;
    // A one-shot pipeline files and answers under `handoffs/`: a home that cannot be written is
    // refused at once, with why and what still works, not waited on as a passing fault.
    for dir in args.plans.iter().chain(&args.repos) {
        if !dir.is_dir() {
            bail!("{} is not a folder (pass existing folders to --plans and --repo)", dir.display());
        }
    }
    let handoffs = ctx.home.join("handoffs");
    if let Some(e) = baton_fs::cannot_write(&handoffs) {
        if args.json {
            return read_only(&args, ctx, &format!("{}: {e}", handoffs.display()));
        }
        bail!(
            "{}: {e}: `baton audit` writes its report and follow-ups there; `audit --json` audits a home that cannot be written (writing nothing), as `status`, `show` and `inbox` read it, and `--home` names a writable one",
            handoffs.display()
        );
    }
    let folders = given(&args, ctx);
    let rt = baton_cli::rt::runtime()?;
    let outcome = rt.block_on(async {
        let pipeline = crate::open::pipeline(ctx, baton_pipeline::Loading::AtStart).await?;
        anyhow::Ok(pipeline.audit(folders.as_ref(), args.force).await?)
    });
    // Never wait for a thread the audit left blocked in a file operation past its budget.
    rt.shutdown_timeout(baton_cli::rt::SHUTDOWN_TIMEOUT);
    let outcome = outcome?;
    let Some(outcome) = outcome else {
        bail!(
            "the audit plugin is not installed in {}; run `baton init` (or `baton plugin install audit.wasm`)",
            ctx.home.join("plugins").display()
        );
    };
    // the runner has checked renames (git history) and says what it did in `moved`
    let r = &outcome.result;
    let moved = r["moved"].as_str().unwrap_or("moved not checked: the audit runner did not say");
    if args.json {
        let view = json_view(r, moved);
        println!("{}", serde_json::to_string_pretty(&view).context("printing the report")?);
    } else {
        println!("{}", outcome.summary);
        if let Some(md) = r["reports"]["markdown"].as_str() {
            println!("report: {md}");
        }
        let false_claims = r["false_claims"].as_array().map(Vec::len).unwrap_or(0);
        if false_claims > 0 {
            println!("{false_claims} false claim(s): done according to the plan, missing or a stub on disk");
        }
        for c in r["status_conflicts"].as_array().into_iter().flatten() {
            let task = c["task"].as_str().map(|t| format!(" (task {t})")).unwrap_or_default();
            println!(
                "status conflict in {}{task}: says {:?} with {} of {} done",
                c["path"].as_str().unwrap_or(""),
                c["status"].as_str().unwrap_or(""),
                c["done"],
                c["total"]
            );
        }
        for u in r["unreadable"].as_array().into_iter().flatten() {
            println!("unreadable plan {}: {}", u["path"].as_str().unwrap_or(""), u["reason"].as_str().unwrap_or(""));
        }
        println!("{moved}");
    }
    for f in &outcome.follow_ups {
        eprintln!("baton: follow-up {}", f.display());
    }
    Ok(0)
}

/// What `audit --json` prints of an audit's result (the plugin's, or one run here).
fn json_view(r: &serde_json::Value, moved: &str) -> serde_json::Value {
    json!({"plans": r["plans"], "false_claims": r["false_claims"], "status_conflicts": r["status_conflicts"],
           "unreadable": r["unreadable"], "moved": moved})
}

/// The folders given on the command line (none given: `None`, the grants decide), absolute so
/// that `--plans R --repo ./R` name one host folder and its plans are audited once; plans
/// default to `<home>/plans`, reports to `<home>/reports`.
fn given(args: &AuditArgs, ctx: &Ctx) -> Option<Folders> {
    let custom = !args.plans.is_empty() || !args.repos.is_empty() || args.out.is_some();
    let absolute = |v: &[PathBuf]| -> Vec<PathBuf> {
        v.iter().map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone())).collect()
    };
    custom.then(|| Folders {
        plans: if args.plans.is_empty() { vec![ctx.home.join("plans")] } else { absolute(&args.plans) },
        repos: absolute(&args.repos),
        reports: args.out.clone().unwrap_or_else(|| ctx.home.join("reports")),
    })
}

/// `audit --json` on a home that cannot be written: the audit run here, natively, with the
/// folders given or those the audit plugin is granted (read as a run reads them), against the
/// newest report as the base; nothing written (no report, no follow-up), which the answer says
/// in `written` and on stderr.
fn read_only(args: &AuditArgs, ctx: &Ctx, why: &str) -> Result<i32> {
    let folders = match given(args, ctx) {
        Some(f) => f,
        None => {
            let grants = ctx.config()?.grants(&ctx.home, baton_pipeline::audit::PLUGIN);
            Folders::granted(&grants, ctx.home.join("reports"))
        }
    };
    if folders.plans.is_empty() && folders.repos.is_empty() {
        bail!(
            "nothing to audit: grant the audit plugin `plans` or `repos` folders in baton.toml, or pass --plans and --repo"
        );
    }
    let previous = baton_audit::latest_report(&folders.reports).map(|(_, r)| r);
    let report = baton_audit::audit(&baton_audit::AuditInput {
        plans_dirs: folders.plans,
        repo_dirs: folders.repos.clone(),
        previous,
        now: std::time::SystemTime::now(),
        mounts: Vec::new(),
    });
    let mut r = serde_json::to_value(report.cli_view()).context("the audit's answer")?;
    let renames = baton_audit::moved::check(&baton_audit::moved::missing_in_json(&r), &folders.repos);
    renames.apply_json(&mut r);
    let mut view = json_view(&r, &renames.note);
    view["written"] = json!(false);
    view["not_written"] = json!(format!("{why}: no report or follow-up written"));
    eprintln!("baton: {why}: audited without writing a report or a follow-up");
    println!("{}", serde_json::to_string_pretty(&view).context("printing the report")?);
    Ok(0)
}
