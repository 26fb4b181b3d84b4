//! `baton init` and `baton demo`.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use baton_pipeline::config::DEFAULT_TOML;

use crate::Ctx;

/// Creates a home. Idempotent; never overwrites a file that exists.
pub fn init(ctx: &Ctx) -> Result<()> {
    let home = &ctx.home;
    for dir in ["handoffs/baton/01_inbox", "handoffs/baton/02_processed", "handoffs/baton/03_failed", "plans", "reports", "plugins"] {
        let d = home.join(dir);
        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    }
    let toml = home.join("baton.toml");
    if !toml.exists() {
        std::fs::write(&toml, DEFAULT_TOML).with_context(|| format!("writing {}", toml.display()))?;
    }
    let ledger = baton_ledger::Ledger::open(&ctx.state)?;
    let missing: Vec<_> = baton_bundle::first_party().filter(|p| !home.join("plugins").join(format!("{}.wasm", p.name)).exists()).collect();
    let mut installed = Vec::new();
    if !missing.is_empty() {
        installed = install_bundled(ctx, ledger, &missing)?;
    }
    eprintln!(
        "baton: home ready at {} (state {}){}",
        home.display(),
        ctx.state.display(),
        if installed.is_empty() { String::new() } else { format!("; installed plugins: {}", installed.join(", ")) }
    );
    Ok(())
}

/// Installs bundled plugins the way `baton plugin install` does (described, archived in
/// `plugins/.archive/` and journaled in `plugins/.journal.jsonl`), so the first `serve` finds
/// their record instead of adopting them as files dropped in by hand.
fn install_bundled(ctx: &Ctx, ledger: baton_ledger::Ledger, bundled: &[&baton_bundle::Bundled]) -> Result<Vec<&'static str>> {
    use std::sync::Arc;
    let cfg = baton_pipeline::Config::load(&ctx.home)?;
    let paths = baton_pipeline::Paths::new(&ctx.home, &ctx.state, &cfg);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let ledger: baton_pipeline::SharedLedger = Arc::new(std::sync::Mutex::new(ledger));
        let runtime = baton_runtime::Runtime::new(
            baton_runtime::RuntimeConfig { cache_dir: Some(paths.cache()), lock_dir: paths.locks() },
            Arc::new(baton_pipeline::LedgerKv(ledger)),
        )?;
        let mut installed = Vec::new();
        for p in bundled {
            let src = PathBuf::from(format!("<bundled>/{}.wasm", p.name));
            let r = baton_pipeline::plugins::install_bytes(&runtime, &cfg, &paths, &src, p.wasm, false, false)
                .await
                .with_context(|| format!("installing the bundled plugin {}", p.name))?;
            if r.plugin.name != p.name {
                anyhow::bail!("the bundled plugin {} calls itself `{}`; this is a bug in baton", p.name, r.plugin.name);
            }
            installed.push(p.name);
        }
        Ok::<_, anyhow::Error>(installed)
    })
}

/// Builds a demo home, drops sample TASKs (one good, one for another agent, one broken),
/// serves them once and prints what came back.
pub fn demo(dir: Option<PathBuf>) -> Result<i32> {
    let home = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("baton-demo-{}", std::process::id())),
    };
    let ctx = Ctx { state: home.join("state/baton.sqlite"), home: home.clone() };
    init(&ctx)?;
    let inbox = home.join("handoffs/baton/01_inbox");
    let now = baton_handoff::stamp::now();
    let stamp = baton_handoff::stamp::file_stamp(now);
    let created = baton_handoff::stamp::rfc3339(now);
    let samples = [
        (
            format!("{stamp}__TASK__Echo-Hello__Claude-Code-Agent.json"),
            serde_json::json!({"schema": "baton.handoff/v1", "id": ulid(), "kind": "task", "created_at": created,
                "from": "Claude-Code-Agent", "title": "Echo hello", "plugin": "echo", "action": "echo",
                "params": {"message": "hello from the demo"}}).to_string(),
        ),
        (
            format!("{stamp}__TASK__Review-PR-42__Claude-Code-Agent.json"),
            serde_json::json!({"schema": "baton.handoff/v1", "id": ulid(), "kind": "task", "created_at": created,
                "from": "Claude-Code-Agent", "to": "Cursor-Agent", "title": "Review PR 42"}).to_string(),
        ),
        (format!("{stamp}__TASK__Broken__Codex-Agent.json"), "{\"schema\": \"baton.handoff/v1\", \"id\": ".to_string()),
    ];
    for (name, body) in &samples {
        std::fs::write(inbox.join(name), body)?;
        println!("dropped  handoffs/baton/01_inbox/{name}");
    }
    // A plan for the automatic audit: one file done, one a stub ticked off as done, one missing.
    let plans = home.join("plans/demo-app");
    std::fs::create_dir_all(plans.join("src"))?;
    std::fs::write(
        plans.join("DEMO_PLAN.md"),
        "# Demo app plan\n\n| Component | Files | Status |\n|---|---|---|\n\
         | Core | `src/app.py` | ✅ Complete |\n| Worker | `src/worker.py` | ✅ Complete |\n\
         | Monitoring | `src/alerts.py` | pending |\n",
    )?;
    std::fs::write(plans.join("src/app.py"), "def main():\n    print(\"hello\")\n\n\nif __name__ == \"__main__\":\n    main()\n")?;
    std::fs::write(plans.join("src/worker.py"), "def work():\n    raise NotImplementedError\n")?;
    println!("planned  plans/demo-app/DEMO_PLAN.md (3 deliverables)");
    // The broken one must settle before it is rejected; keep the demo snappy.
    let toml = home.join("baton.toml");
    let text = std::fs::read_to_string(&toml)?.replace("settle_ms = 1000", "settle_ms = 200");
    std::fs::write(&toml, text)?;
    crate::handoffs::serve(&ctx, true)?;
    println!();
    show_tree(&home.join("handoffs"), &home)?;
    for agent in ["Claude-Code-Agent", "Codex-Agent"] {
        let dir = home.join("handoffs").join(agent).join("01_inbox");
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(e.path())?)?;
            println!(
                "\nRETURN for {agent}: status={} summary={:?}\n{}",
                v["status"].as_str().unwrap_or("?"),
                v["summary"].as_str().unwrap_or(""),
                serde_json::to_string_pretty(&v["result"])?
            );
        }
    }
    for e in std::fs::read_dir(home.join("reports"))?.flatten() {
        if e.path().extension().is_some_and(|x| x == "md") {
            println!("\naudit report {}:", e.path().strip_prefix(&home).unwrap_or(&e.path()).display());
            let text = std::fs::read_to_string(e.path())?;
            for line in text.lines().take(40) {
                println!("  {line}");
            }
        }
    }
    println!("\nThe demo home is {}; try `baton status --home {}`", home.display(), home.display());
    Ok(0)
}

fn ulid() -> String {
    ulid::Ulid::new().to_string()
}

fn show_tree(root: &Path, home: &Path) -> Result<()> {
    let mut files = Vec::new();
    collect(root, &mut files)?;
    files.sort();
    for f in files {
        println!("  {}", f.strip_prefix(home).unwrap_or(&f).display());
    }
    Ok(())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir)?.flatten() {
        let p = e.path();
        let hidden = e.file_name().to_string_lossy().starts_with('.');
        if hidden {
            continue;
        }
        if p.is_dir() {
            collect(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}
