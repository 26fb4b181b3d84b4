//! Issue 36, item 7: a kv write the store fails is never silent. `kv-set` has no error result,
//! so the task ends with the reason instead of reporting `completed` with the write lost.
use std::path::Path;
use std::sync::Arc;

use baton_runtime::{Budget, KvError, KvQuota, KvStore, RunError, Runtime, RuntimeConfig, TaskInput};
use serde_json::json;

/// A kv store whose writes fail, as the state database's did when snapshot queries used up
/// SQLite's process-wide heap.
struct FailingKv;

impl KvStore for FailingKv {
    fn get(&self, _: &str, _: &str) -> Option<String> {
        None
    }
    fn set(&self, _: &str, _: &str, _: &str, _: &KvQuota) -> Result<(), KvError> {
        Err(KvError::Failed("out of memory".into()))
    }
    fn delete(&self, _: &str, _: &str) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_kv_write_fails_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = RuntimeConfig { cache_dir: Some(dir.path().join("cache")), lock_dir: dir.path().join("locks") };
    let rt = Runtime::new(cfg, Arc::new(FailingKv)).unwrap();
    let p = rt.prepare(Path::new("testkit"), baton_bundle::get("testkit").unwrap().wasm, &[]).await.unwrap();
    // `rename` stores its new name with `kv-set` and answers `completed` if the call returns.
    let input = TaskInput {
        id: "T1".into(),
        action: "rename".into(),
        params: json!({"to": "other"}),
        sender: "Tester".into(),
        title: "t".into(),
        correlation_id: None,
    };
    let exec = rt.handle(&p, &input, Budget::default()).await;
    match exec.outcome {
        Err(RunError::Trap(m)) => {
            assert!(m.contains("kv-set failed") && m.contains("not saved") && m.contains("out of memory"), "{m}")
        }
        other => panic!("a lost kv write reported as {other:?}"),
    }
}
