//! Plugin dispatch benchmark: what one task costs the host beyond the plugin's own work —
//! a fresh store (WASI context, limits, epoch deadline), instantiation from the `InstancePre`,
//! the `handle` call of `echo`, and checking its result. This is `Runtime::handle`, the exact
//! path the pipeline takes per task.
//!
//! Compares, in one run: the pooling allocator against on-demand allocation, and a cold
//! compile of the component against loading it from the on-disk cache.
//!
//! ```text
//! cargo run --release -p baton-runtime --example dispatch -- [ITERATIONS [COMPONENT]]
//! ```
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use baton_runtime::{Allocator, Budget, EngineOptions, NoKv, Runtime, RuntimeConfig, TaskInput};

fn runtime(dir: &Path, allocator: Allocator, cache: bool) -> Runtime {
    let cfg = RuntimeConfig { cache_dir: cache.then(|| dir.join("cache")), lock_dir: dir.join("locks") };
    Runtime::with_options(cfg, Arc::new(NoKv), EngineOptions { allocator, ..EngineOptions::default() }).expect("engine")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn main() {
    let iterations: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    // A second argument dispatches another build of echo (an older one, to tell the host's
    // share of a change from the plugin's).
    let other = std::env::args().nth(2).map(|p| std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}")));
    let wasm: &[u8] = match &other {
        Some(bytes) => bytes,
        None => baton_bundle::get("echo").expect("echo is bundled").wasm,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    let dir = tempfile::tempdir().expect("tempdir");
    let task = TaskInput {
        id: "01BENCH".into(),
        action: "echo".into(),
        params: serde_json::json!({"message": "hello", "n": 42}),
        sender: "Bench-Agent".into(),
        title: "bench".into(),
        correlation_id: None,
        inputs: serde_json::json!({}),
    };
    let budget = Budget::default();
    println!("echo.wasm: {} bytes; {iterations} dispatches per allocator after 500 warm-up", wasm.len());
    println!("| allocator | median | p99 | mean | min |");
    println!("|---|---|---|---|---|");
    for allocator in [Allocator::Pooling, Allocator::OnDemand] {
        let runtime = runtime(dir.path(), allocator, true);
        let plugin = rt.block_on(runtime.prepare(Path::new("echo.wasm"), wasm, &[])).expect("echo loads");
        let mut samples = Vec::with_capacity(iterations);
        rt.block_on(async {
            for _ in 0..500 {
                runtime.handle(&plugin, &task, budget).await.outcome.expect("echo succeeds");
            }
            for _ in 0..iterations {
                let t = Instant::now();
                let exec = runtime.handle(&plugin, &task, budget).await;
                samples.push(t.elapsed());
                exec.outcome.expect("echo succeeds");
            }
        });
        let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
        samples.sort();
        println!(
            "| {allocator:?} | {} | {} | {} | {} |",
            us(percentile(&samples, 0.5)),
            us(percentile(&samples, 0.99)),
            us(mean),
            us(samples[0])
        );
    }

    // Load time: compile from scratch vs deserialize from the cache, each in a fresh engine
    // as a cold host start would be.
    let reps = 5;
    let mut cold = Vec::new();
    let mut cached = Vec::new();
    for _ in 0..reps {
        let fresh = tempfile::tempdir().expect("tempdir");
        let r = runtime(fresh.path(), Allocator::Pooling, true);
        let t = Instant::now();
        rt.block_on(r.prepare(Path::new("echo.wasm"), wasm, &[])).expect("loads");
        cold.push(t.elapsed());
        drop(r);
        let r = runtime(fresh.path(), Allocator::Pooling, true);
        let t = Instant::now();
        rt.block_on(r.prepare(Path::new("echo.wasm"), wasm, &[])).expect("loads");
        cached.push(t.elapsed());
    }
    cold.sort();
    cached.sort();
    println!();
    println!("| load of echo.wasm (compile/deserialize + link + describe), median of {reps} | time |");
    println!("|---|---|");
    println!(
        "| cold: compile with Cranelift, write the cache | {:.2} ms |",
        percentile(&cold, 0.5).as_secs_f64() * 1e3
    );
    println!("| warm: deserialize from the on-disk cache | {:.2} ms |", percentile(&cached, 0.5).as_secs_f64() * 1e3);
}
