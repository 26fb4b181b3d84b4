//! `baton:plugin/fingerprint` (0.3.0, and 0.4.0 with `library-fingerprint`): the native
//! fingerprint core (`baton-fp`) offered to plugins without widening the sandbox.
//!
//! This crate sits beside the sandbox crate, as `wasmtime-wasi` sits beside `wasmtime`:
//! `baton-runtime` knows nothing of decoders, worker processes or the library database, and
//! [`FingerprintHost`] plugs into its linker as a [`baton_runtime::HostInterface`]. Decoding runs
//! in `baton-fp`'s worker processes, so a file that crashes the decoder fails one call
//! (`corrupt`), not the host. The work itself is in [`service`]; this file converts types.
// Tests make their trees with `create_dir_all`; the code goes through `baton_fs::ensure_dir` (clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]
mod service;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use baton_fp::service::Matcher;
use baton_fp::worker::Workers;
use baton_runtime::{HostInterface, StoreState};
use wasmtime::component::{HasData, Linker};

pub use baton_fp::worker::WorkerConfig;
pub use service::{MAX_MATCHES, ServiceError};
// Shared with the other host interfaces that take guest paths (baton-host-sqlite).
pub use service::{locate, locate_at, open_in_grant, path_of_open};

/// `[fp]` in `baton.toml`: the fingerprint library's section, read by the app for this
/// interface's workers and for `baton fp` (the engine carries it unread).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FpSettings {
    /// Decoding one file may take at most this long (in a worker process); a file that takes
    /// longer is recorded as `corrupt`.
    pub file_timeout_ms: u64,
    /// `baton fp scan` stores whole-track deep prints as if `--deep` were given.
    pub deep: bool,
}

impl FpSettings {
    /// Its table's name.
    pub const SECTION: &str = "fp";
}

impl Default for FpSettings {
    fn default() -> Self {
        FpSettings { file_timeout_ms: 10_000, deep: false }
    }
}

/// One `bindgen!` per version that has the `fingerprint` interface: a plugin built against 0.3.0
/// imports `baton:plugin/fingerprint@0.3.0`, one built against 0.4.0 `…@0.4.0`, and since the
/// split one built against 0.5.0 `baton:music/fingerprint@0.5.0`.
mod bindings {
    pub mod v0_3 {
        wasmtime::component::bindgen!({
            path: "../../../wit/v0.3",
            world: "plugin",
            // Trappable: a task whose time runs out during a call ends `timeout`, not with an
            // error the plugin could ignore.
            imports: { "baton:plugin/fingerprint": async | trappable, default: async },
            exports: { default: async },
        });
    }
    pub mod v0_4 {
        wasmtime::component::bindgen!({
            path: "../../../wit/v0.4",
            world: "plugin",
            imports: { "baton:plugin/fingerprint": async | trappable, default: async },
            exports: { default: async },
        });
    }
    pub mod v0_5 {
        wasmtime::component::bindgen!({
            path: ["../../../wit/v0.5", "../../../wit/v0.5/music"],
            world: "baton:music/music",
            imports: { "baton:music/fingerprint": async | trappable, default: async },
            exports: { default: async },
        });
    }
}

/// The fingerprint service of one host process: the decoding workers and the library.
pub struct FingerprintHost {
    workers: Arc<Workers>,
    library: Option<Arc<Matcher>>,
    /// The state database, for `library-fingerprint` (one connection, opened on first use).
    library_db: Option<PathBuf>,
    db: Arc<Mutex<Option<baton_fp::db::Db>>>,
}

impl FingerprintHost {
    /// A service decoding in workers started as `workers` says, matching against the library in
    /// the state database `library_db` (`None`: `best-matches` says there is no library).
    pub fn new(workers: WorkerConfig, library_db: Option<PathBuf>) -> Self {
        FingerprintHost {
            workers: Arc::new(Workers::new(workers)),
            library: library_db.as_deref().map(|p| Arc::new(Matcher::new(p))),
            library_db,
            db: Arc::default(),
        }
    }
}

impl HostInterface for FingerprintHost {
    fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
        fn view(s: &mut StoreState) -> FpView<'_> {
            let p = s.parts();
            FpView {
                host: p.extensions.get(),
                grants: p.task.grants(),
                dirs: p.task.grant_dirs(),
                deadline: p.task.deadline(),
                fault: p.fault,
            }
        }
        bindings::v0_3::baton::plugin::fingerprint::add_to_linker::<StoreState, Fp>(linker, view)?;
        bindings::v0_4::baton::plugin::fingerprint::add_to_linker::<StoreState, Fp>(linker, view)?;
        // The music package's `types` (no functions; every music host crate links it, so each
        // works alone).
        bindings::v0_5::baton::music::types::add_to_linker::<StoreState, Fp>(linker, view)?;
        bindings::v0_5::baton::music::fingerprint::add_to_linker::<StoreState, Fp>(linker, view)
    }
}

impl bindings::v0_5::baton::music::types::Host for FpView<'_> {}

/// What the host functions see of a task's store.
struct FpView<'a> {
    host: Option<&'a FingerprintHost>,
    grants: &'a [baton_runtime::Grant],
    dirs: &'a [baton_runtime::grants::GrantDir],
    deadline: std::time::Instant,
    /// The task's host fault (`StoreState::host_fault`): set when the fingerprint library
    /// fails for a fault that may pass.
    fault: &'a mut Option<String>,
}

struct Fp;

impl HasData for Fp {
    type Data<'a> = FpView<'a>;
}

impl FpView<'_> {
    fn host(&self) -> Result<&FingerprintHost, ServiceError> {
        self.host.ok_or_else(|| ServiceError::Io("this host offers no fingerprint service".into()))
    }
}

/// The newest `fingerprint` interface (`baton:music/fingerprint@0.5.0`), implemented once; the
/// older ones ([`older`]) are adapted up to it.
mod newest {
    use super::*;
    use crate::bindings::v0_5::baton::music::fingerprint as wit;

    /// A WIT result, or a trap that ends the task `timeout`.
    fn convert<T, U>(
        fault: &mut Option<String>,
        r: Result<T, ServiceError>,
        ok: impl FnOnce(T) -> U,
    ) -> wasmtime::Result<Result<U, wit::FpError>> {
        if let Err(ServiceError::HostFault(why)) = &r {
            fault.get_or_insert_with(|| why.clone());
        }
        Ok(match r {
            Ok(v) => Ok(ok(v)),
            Err(ServiceError::TaskTimeout) => return Err(wasmtime::Trap::Interrupt.into()),
            Err(ServiceError::Denied(m)) => Err(wit::FpError::Denied(m)),
            Err(ServiceError::Unsupported(m)) => Err(wit::FpError::Unsupported(m)),
            Err(ServiceError::Corrupt(m)) => Err(wit::FpError::Corrupt(m)),
            Err(ServiceError::Io(m) | ServiceError::HostFault(m)) => Err(wit::FpError::Io(m)),
        })
    }

    fn tags(t: baton_signal::Tags) -> wit::Tags {
        wit::Tags { title: t.title, artist: t.artist, album: t.album, isrc: t.isrc }
    }

    fn info(i: baton_signal::AudioInfo) -> wit::AudioInfo {
        wit::AudioInfo {
            codec: i.codec,
            sample_rate: i.sample_rate,
            channels: i.channels,
            duration: i.duration,
            bitrate_kbps: i.bitrate_kbps,
            lossless: i.lossless,
        }
    }

    fn fingerprint(f: baton_signal::FileFingerprint) -> wit::AudioFingerprint {
        wit::AudioFingerprint {
            duration: f.duration,
            compressed: f.compressed(),
            fingerprint: f.fingerprint,
            info: info(f.info),
            tags: tags(f.tags),
        }
    }

    impl wit::Host for FpView<'_> {
        async fn fingerprint_file(
            &mut self,
            path: String,
        ) -> wasmtime::Result<Result<wit::AudioFingerprint, wit::FpError>> {
            let r = match self.host() {
                Ok(h) => {
                    service::fingerprint_file(h.workers.clone(), self.grants, self.dirs, path, self.deadline).await
                }
                Err(e) => Err(e),
            };
            convert(self.fault, r, fingerprint)
        }

        async fn read_tags(&mut self, path: String) -> wasmtime::Result<Result<wit::FileTags, wit::FpError>> {
            let r = match self.host() {
                Ok(h) => service::read_tags(h.workers.clone(), self.grants, self.dirs, path, self.deadline).await,
                Err(e) => Err(e),
            };
            convert(self.fault, r, |(i, t)| wit::FileTags { info: info(i), tags: tags(t) })
        }

        async fn best_matches(
            &mut self,
            fingerprint: Vec<u32>,
            min_similarity: f64,
            limit: u32,
        ) -> wasmtime::Result<Result<Vec<wit::LibraryMatch>, wit::FpError>> {
            let r = match self.host() {
                Ok(h) => {
                    let library = h.library.clone();
                    service::best_matches(
                        library,
                        self.grants,
                        self.dirs,
                        fingerprint,
                        min_similarity,
                        limit,
                        self.deadline,
                    )
                    .await
                }
                Err(e) => Err(e),
            };
            convert(self.fault, r, |found| {
                found
                    .into_iter()
                    .map(|m| wit::LibraryMatch {
                        path: m.path,
                        score: m.found.score,
                        offset_seconds: m.found.offset_seconds,
                        duration: m.found.duration,
                        tags: tags(m.found.tags),
                    })
                    .collect()
            })
        }

        async fn library_fingerprint(
            &mut self,
            path: String,
        ) -> wasmtime::Result<Result<Option<wit::AudioFingerprint>, wit::FpError>> {
            let r = match self.host() {
                Ok(h) => {
                    let (library_db, db) = (h.library_db.clone(), h.db.clone());
                    service::library_fingerprint(library_db, db, self.grants, self.dirs, path, self.deadline).await
                }
                Err(e) => Err(e),
            };
            convert(self.fault, r, |found| found.map(fingerprint))
        }
    }
}

/// `baton:plugin/fingerprint` 0.3.0 and 0.4.0 (the same shapes under the core package's name;
/// 0.3.0 without `library-fingerprint`), adapted up to the newest (`baton_runtime::adapt`).
mod older {
    use baton_runtime::adapt::Conv;
    use baton_runtime::conv;

    use super::FpView;
    use crate::bindings::v0_3::baton::plugin::fingerprint as v3;
    use crate::bindings::v0_4::baton::plugin::fingerprint as v4;
    use crate::bindings::v0_5::baton::music::fingerprint as v5;

    type R<T, E> = wasmtime::Result<Result<T, E>>;

    macro_rules! shapes {
        ($old:ident) => {
            conv!($old <=> v5, variant FpError { Denied, Unsupported, Corrupt, Io });
            conv!(v5 => $old, record Tags { title, artist, album, isrc });
            conv!(v5 => $old, record AudioInfo { codec, sample_rate, channels, duration, bitrate_kbps, lossless });
            conv!(v5 => $old, record AudioFingerprint { duration, compressed, fingerprint, info, tags });
            conv!(v5 => $old, record FileTags { info, tags });
            conv!(v5 => $old, record LibraryMatch { path, score, offset_seconds, duration, tags });
        };
    }
    shapes!(v3);
    shapes!(v4);

    /// The calls 0.3.0 has; 0.4.0 adds `library-fingerprint`.
    macro_rules! calls {
        ($old:ident { $($extra:tt)* }) => {
            impl $old::Host for FpView<'_> {
                async fn fingerprint_file(&mut self, path: String) -> R<$old::AudioFingerprint, $old::FpError> {
                    Ok(v5::Host::fingerprint_file(self, path).await?.conv())
                }
                async fn read_tags(&mut self, path: String) -> R<$old::FileTags, $old::FpError> {
                    Ok(v5::Host::read_tags(self, path).await?.conv())
                }
                async fn best_matches(
                    &mut self,
                    fingerprint: Vec<u32>,
                    min_similarity: f64,
                    limit: u32,
                ) -> R<Vec<$old::LibraryMatch>, $old::FpError> {
                    Ok(v5::Host::best_matches(self, fingerprint, min_similarity, limit).await?.conv())
                }
                $($extra)*
            }
        };
    }
    calls!(v3 {});
    calls!(v4 {
        async fn library_fingerprint(&mut self, path: String) -> R<Option<v4::AudioFingerprint>, v4::FpError> {
            Ok(v5::Host::library_fingerprint(self, path).await?.conv())
        }
    });
}
