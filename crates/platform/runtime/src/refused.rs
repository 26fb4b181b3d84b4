//! What a plugin built against 0.3.0 or 0.4.0 of `baton:plugin` imports besides `host`: the
//! music interfaces lived in the core package then. Without the crate that offers one
//! (`baton-host-fp`, `-catalog`, `-sqlite`, which link over these), each call is refused, so
//! such a plugin still loads and runs on a host without music.

/// `baton:plugin/fingerprint@0.3.0` when no crate provides it: every call is refused.
mod no_fingerprint_v0_3 {
    use crate::bindings::v0_3::baton::plugin::fingerprint as wit;
    use crate::host::StoreState;

    fn refused() -> wit::FpError {
        wit::FpError::Io("this host offers no fingerprint service".into())
    }

    impl wit::Host for StoreState {
        async fn fingerprint_file(
            &mut self,
            _: String,
        ) -> wasmtime::Result<Result<wit::AudioFingerprint, wit::FpError>> {
            Ok(Err(refused()))
        }

        async fn read_tags(&mut self, _: String) -> wasmtime::Result<Result<wit::FileTags, wit::FpError>> {
            Ok(Err(refused()))
        }

        async fn best_matches(
            &mut self,
            _: Vec<u32>,
            _: f64,
            _: u32,
        ) -> wasmtime::Result<Result<Vec<wit::LibraryMatch>, wit::FpError>> {
            Ok(Err(refused()))
        }
    }
}

/// `baton:plugin/fingerprint@0.4.0` when no crate provides it: every call is refused.
macro_rules! no_fingerprint {
    ($m:ident, $($p:ident)::+) => {
mod $m {
    use crate::host::StoreState;
    use crate::bindings::$($p)::+ as wit;

    fn refused() -> wit::FpError {
        wit::FpError::Io("this host offers no fingerprint service".into())
    }

    impl wit::Host for StoreState {
        async fn fingerprint_file(&mut self, _: String) -> wasmtime::Result<Result<wit::AudioFingerprint, wit::FpError>> {
            Ok(Err(refused()))
        }

        async fn read_tags(&mut self, _: String) -> wasmtime::Result<Result<wit::FileTags, wit::FpError>> {
            Ok(Err(refused()))
        }

        async fn best_matches(&mut self, _: Vec<u32>, _: f64, _: u32) -> wasmtime::Result<Result<Vec<wit::LibraryMatch>, wit::FpError>> {
            Ok(Err(refused()))
        }

        async fn library_fingerprint(&mut self, _: String) -> wasmtime::Result<Result<Option<wit::AudioFingerprint>, wit::FpError>> {
            Ok(Err(refused()))
        }
    }
}
    };
}
no_fingerprint!(no_fingerprint_v0_4, v0_4::baton::plugin::fingerprint);

/// `baton:plugin/catalog@0.4.0` when no crate provides it: every call is refused.
macro_rules! no_catalog {
    ($m:ident, $($p:ident)::+) => {
mod $m {
    use crate::host::StoreState;
    use crate::bindings::$($p)::+ as wit;

    type R<T> = wasmtime::Result<Result<T, wit::CatalogError>>;

    fn refused<T>() -> R<T> {
        Ok(Err(wit::CatalogError::Io("this host offers no catalog".into())))
    }

    impl wit::Host for StoreState {
        async fn collections(&mut self) -> R<Vec<wit::CollectionInfo>> {
            refused()
        }
        async fn ensure_collection(&mut self, _: String, _: Vec<wit::PropertySpec>) -> R<()> {
            refused()
        }
        async fn rename_property(&mut self, _: String, _: String, _: String) -> R<()> {
            refused()
        }
        async fn remove_property(&mut self, _: String, _: String) -> R<()> {
            refused()
        }
        async fn upsert(&mut self, _: String, _: String) -> R<wit::UpsertReport> {
            refused()
        }
        async fn get(&mut self, _: String, _: String, _: bool) -> R<Option<String>> {
            refused()
        }
        async fn query(&mut self, _: String, _: String, _: Option<String>, _: u32) -> R<wit::Page> {
            refused()
        }
        async fn links(&mut self, _: String, _: String, _: String) -> R<Vec<wit::LinkInfo>> {
            refused()
        }
        async fn link(&mut self, _: String, _: String, _: String, _: String, _: Option<String>, _: Option<wit::MatchMethod>) -> R<bool> {
            refused()
        }
        async fn unlink(&mut self, _: String, _: String, _: String, _: String) -> R<bool> {
            refused()
        }
        async fn changes_since(&mut self, _: u64, _: u32) -> R<Vec<wit::Change>> {
            refused()
        }
        async fn match_track(&mut self, _: wit::TrackQuery) -> R<wit::MatchOutcome> {
            refused()
        }
        async fn resolve_track(&mut self, _: wit::TrackQuery, _: String) -> R<wit::Resolution> {
            refused()
        }
    }
}
    };
}
no_catalog!(no_catalog_v0_4, v0_4::baton::plugin::catalog);

/// `baton:plugin/sqlite@0.4.0` when no crate provides it: `open` is refused, so no snapshot
/// ever exists.
macro_rules! no_sqlite {
    ($m:ident, $($p:ident)::+) => {
mod $m {
    use crate::host::StoreState;
    use crate::bindings::$($p)::+ as wit;
    use wasmtime::component::Resource;

    impl wit::Host for StoreState {}

    impl wit::HostSnapshot for StoreState {
        async fn open(&mut self, _: String) -> wasmtime::Result<Result<Resource<wit::Snapshot>, wit::SqliteError>> {
            Ok(Err(wit::SqliteError::Io("this host offers no sqlite access".into())))
        }

        async fn query(
            &mut self,
            _: Resource<wit::Snapshot>,
            _: String,
            _: Vec<wit::SqlValue>,
            _: u32,
        ) -> wasmtime::Result<Result<wit::Rows, wit::SqliteError>> {
            Ok(Err(wit::SqliteError::Io("this host offers no sqlite access".into())))
        }

        async fn drop(&mut self, _: Resource<wit::Snapshot>) -> wasmtime::Result<()> {
            Ok(())
        }
    }
}
    };
}
no_sqlite!(no_sqlite_v0_4, v0_4::baton::plugin::sqlite);
