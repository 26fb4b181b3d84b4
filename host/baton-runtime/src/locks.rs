//! Named locks that hold across every baton process on the machine: one lock file per
//! (plugin, name), held with `flock`, released when the task ends (or its process dies).
use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustix::fs::{flock, FlockOperation};

/// The lock file for (plugin, name) under `dir`. Public so other tools (and tests) can take
/// part in the same locking with a plain `flock` on this file.
pub fn lock_path(dir: &std::path::Path, plugin: &str, name: &str) -> PathBuf {
    // Lock names are free text from the plugin: hash them into a safe file name.
    let digest = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(name.as_bytes())[..16]);
    dir.join(plugin).join(format!("{digest}.lock"))
}

pub struct Locks {
    dir: PathBuf,
    /// Open lock files of this process, by (plugin, name). The flock lives as long as the file.
    held: Mutex<HashMap<(String, String), File>>,
}

impl Locks {
    pub fn new(dir: PathBuf) -> Self {
        Locks { dir, held: Mutex::default() }
    }

    fn path(&self, plugin: &str, name: &str) -> PathBuf {
        lock_path(&self.dir, plugin, name)
    }

    /// Waits up to `timeout` for the lock. Polls, so a waiting plugin can still be timed out.
    pub async fn acquire(&self, plugin: &str, name: &str, timeout: Duration) -> Result<(), String> {
        let key = (plugin.to_string(), name.to_string());
        let deadline = Instant::now() + timeout;
        let path = self.path(plugin, name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("lock folder {}: {e}", dir.display()))?;
        }
        loop {
            {
                let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
                if let std::collections::hash_map::Entry::Vacant(slot) = held.entry(key.clone()) {
                    let file = File::options()
                        .create(true)
                        .truncate(false)
                        .write(true)
                        .open(&path)
                        .map_err(|e| format!("lock file {}: {e}", path.display()))?;
                    if flock(&file, FlockOperation::NonBlockingLockExclusive).is_ok() {
                        slot.insert(file);
                        return Ok(());
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("lock `{name}` is held elsewhere; gave up after {timeout:?}"));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn release(&self, plugin: &str, name: &str) {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).remove(&(plugin.to_string(), name.to_string()));
    }

    pub fn release_all(&self, plugin: &str, names: &[String]) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        for n in names {
            held.remove(&(plugin.to_string(), n.clone()));
        }
    }
}
