//! `baton:plugin` 0.1.0 to 0.5.0 adapted up to the newest ([`crate::adapt`]): each older `host`
//! call converts its arguments to the newest types, runs the one implementation (`host.rs`),
//! and converts the answer back; the exports' types convert the same way (the newest `task`
//! down to what an older plugin takes, its `plugin-info`, `outcome` and `failure` up), for
//! `version.rs`'s per-version calls.
//!
//! A new version: freeze the current WIT, add its `bindgen!` (`bindings.rs`), implement the new
//! WIT in `host.rs`, and add the version that was newest here with the shapes that changed.
use crate::adapt::Conv;
use crate::bindings::{v0_1, v0_2, v0_3, v0_4, v0_5, v0_6};
use crate::conv;
use crate::host::StoreState;

use v0_6::baton::plugin::host::Host as Newest;
use v0_6::baton::plugin::types as t6;

type R<T> = wasmtime::Result<T>;

/// The shapes every older version shares with the newest (the same records under other types).
macro_rules! shapes {
    ($t:ident) => {
        conv!($t => t6, enum Level { Trace, Debug, Info, Warn, Error });
        conv!(t6 => $t, record Grant { name, guest_path, writable });
        conv!($t => t6, record FollowUp { to, title, body, correlation_id });
        // `task` without 0.6.0's `inputs`; a `failure` without its `needs-input`: an older
        // plugin never sees answers and cannot ask.
        conv!(t6 => $t, record Task { id, action, params, sender, title, correlation_id });
        conv!($t => t6, record Outcome { summary, result, artifacts });
        conv!($t => t6, variant Failure { InvalidInput, Transient, Permanent });
        conv!($t => t6, record ActionInfo { name, description, params_schema });
        conv!($t => t6, record FolderRequest { name, writable, purpose });
        conv!($t => t6, record PluginInfo { name, version, description, actions, folders });
    };
}

/// An older `host` interface over the newest: the calls 0.1.0 has, then what the version adds
/// (`remaining-ms` since 0.2.0; `settings`, `guest-path`, `host-path` since 0.4.0).
macro_rules! host {
    ($v:ident, $t:ident { $($since:ident),* }) => {
        impl $v::baton::plugin::types::Host for StoreState {}
        impl $v::baton::plugin::host::Host for StoreState {
            async fn log(&mut self, level: $t::Level, message: String) -> R<()> {
                Newest::log(self, level.conv(), message).await
            }
            async fn progress(&mut self, done: u64, total: u64, message: String) -> R<()> {
                Newest::progress(self, done, total, message).await
            }
            async fn grants(&mut self) -> R<Vec<$t::Grant>> {
                Ok(Newest::grants(self).await?.conv())
            }
            async fn kv_get(&mut self, key: String) -> R<Option<String>> {
                Newest::kv_get(self, key).await
            }
            async fn kv_set(&mut self, key: String, value: String) -> R<()> {
                Newest::kv_set(self, key, value).await
            }
            async fn kv_delete(&mut self, key: String) -> R<()> {
                Newest::kv_delete(self, key).await
            }
            async fn lock_acquire(&mut self, name: String, timeout_ms: u32) -> R<Result<(), String>> {
                Newest::lock_acquire(self, name, timeout_ms).await
            }
            async fn lock_release(&mut self, name: String) -> R<()> {
                Newest::lock_release(self, name).await
            }
            async fn emit(&mut self, task: $t::FollowUp) -> R<Result<String, String>> {
                Newest::emit(self, task.conv()).await
            }
            $(host!(@ $since);)*
        }
    };
    (@ remaining_ms) => {
        async fn remaining_ms(&mut self) -> R<u64> {
            Newest::remaining_ms(self).await
        }
    };
    (@ paths) => {
        async fn settings(&mut self) -> R<String> {
            Newest::settings(self).await
        }
        async fn guest_path(&mut self, host_path: String) -> R<Option<String>> {
            Newest::guest_path(self, host_path).await
        }
        async fn host_path(&mut self, guest_path: String) -> R<Option<String>> {
            Newest::host_path(self, guest_path).await
        }
    };
}

use v0_1::baton::plugin::types as t1;
use v0_2::baton::plugin::types as t2;
use v0_3::baton::plugin::types as t3;
use v0_4::baton::plugin::types as t4;
use v0_5::baton::plugin::types as t5;

shapes!(t1);
shapes!(t2);
shapes!(t3);
shapes!(t4);
shapes!(t5);

host!(v0_1, t1 {});
host!(v0_2, t2 { remaining_ms });
host!(v0_3, t3 { remaining_ms });
host!(v0_4, t4 { remaining_ms, paths });
host!(v0_5, t5 { remaining_ms, paths });
