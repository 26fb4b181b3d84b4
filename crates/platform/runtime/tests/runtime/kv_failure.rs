//! A kv write the store fails is never silent. `kv-set` has no error result, so the task ends
//! with the reason instead of reporting `completed` with the write lost; a fault on the host's
//! side (the state disk full) ends it as a host fault, which the pipeline takes as a pause.
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

/// testkit's `rename`, which stores its new name with `kv-set` and answers `completed` if the
/// call returns, run over `kv`.
async fn rename_over(kv: Arc<dyn KvStore>) -> Result<baton_runtime::Outcome, RunError> {
    let dir = tempfile::tempdir().unwrap();
    let cfg = RuntimeConfig { cache_dir: Some(dir.path().join("cache")), lock_dir: dir.path().join("locks") };
    let rt = Runtime::new(cfg, kv).unwrap();
    let p = rt.prepare(Path::new("testkit"), baton_bundle::get("testkit").unwrap().wasm, &[]).await.unwrap();
    let input = TaskInput {
        id: "T1".into(),
        action: "rename".into(),
        params: json!({"to": "other"}),
        sender: "Tester".into(),
        title: "t".into(),
        correlation_id: None,
        inputs: serde_json::json!({}),
    };
    rt.handle(&p, &input, Budget::default()).await.outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_kv_write_fails_the_task() {
    match rename_over(Arc::new(FailingKv)).await {
        Err(RunError::Trap(m)) => {
            assert!(m.contains("kv-set failed") && m.contains("not saved") && m.contains("out of memory"), "{m}")
        }
        other => panic!("a lost kv write reported as {other:?}"),
    }
}

/// A kv store whose writes fail for a passing fault on the host's side (the state disk full).
struct FullDiskKv;

impl KvStore for FullDiskKv {
    fn get(&self, _: &str, _: &str) -> Option<String> {
        None
    }
    fn set(&self, _: &str, _: &str, _: &str, _: &KvQuota) -> Result<(), KvError> {
        Err(KvError::Passing("database or disk is full".into()))
    }
    fn delete(&self, _: &str, _: &str) {}
}

/// The same lost write, for a fault on the host's side: the task ends as a host fault (a
/// pause for the pipeline), never as the plugin's trap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kv_write_lost_to_a_full_disk_is_a_host_fault() {
    match rename_over(Arc::new(FullDiskKv)).await {
        Err(RunError::HostFault(m)) => assert!(m.contains("database or disk is full"), "{m}"),
        other => panic!("a write lost to a full disk reported as {other:?}"),
    }
}
