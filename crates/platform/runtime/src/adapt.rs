//! The one way baton serves an older WIT version: adapt it up to the newest.
//!
//! Component-model versions `0.x` are semver-incompatible across minors, so every version a
//! plugin may have been built against stays linked, and each `bindgen!` makes its own Rust
//! types (`v0_1::Level` and `v0_6::Level` are different types of the same shape). The newest
//! version is implemented once, natively; an older version's call converts its arguments to
//! the newest types ([`Conv`]), runs the newest implementation, and converts the answer back.
//! Exports go the other way: the host builds the newest `task` and converts it down, and
//! converts an older plugin's answer up. So a rule (a cap, a grant check, a deadline) is
//! written once, against the newest types, and every version keeps it.
//!
//! This is Zed's extension host's pattern (`since_v0_x` modules over `latest`), used by this
//! crate for `baton:plugin/host` and the exports, and by the host interface crates
//! (`baton-host-catalog`, `-fp`, `-sqlite`) for theirs, through [`conv!`](crate::conv).

/// A value of one version's generated type as another version's (same shape, other type).
pub trait Conv<T> {
    fn conv(self) -> T;
}

macro_rules! same {
    ($($t:ty),*) => { $(impl Conv<$t> for $t { fn conv(self) -> $t { self } })* };
}
same!((), String, u64, u32, u16, u8, i64, i32, bool, f64, f32);

/// A resource the versions share (declared with bindgen's `with`), passed as it is.
impl<T: 'static> Conv<wasmtime::component::Resource<T>> for wasmtime::component::Resource<T> {
    fn conv(self) -> wasmtime::component::Resource<T> {
        self
    }
}

impl<A: Conv<B>, B> Conv<Vec<B>> for Vec<A> {
    fn conv(self) -> Vec<B> {
        self.into_iter().map(Conv::conv).collect()
    }
}

impl<A: Conv<B>, B> Conv<Option<B>> for Option<A> {
    fn conv(self) -> Option<B> {
        self.map(Conv::conv)
    }
}

impl<A: Conv<B>, B, E: Conv<F>, F> Conv<Result<B, F>> for Result<A, E> {
    fn conv(self) -> Result<B, F> {
        self.map(Conv::conv).map_err(Conv::conv)
    }
}

/// [`Conv`] for a WIT record, enum or variant between two versions' modules, one way
/// (`old => new`) or both (`old <=> new`). A record names the target's fields (a field only
/// the newer version has is left out going down); a variant names the source's cases, each
/// with one payload (a case only the newer version has never comes up from the older one).
///
/// ```ignore
/// baton_runtime::conv!(v4 <=> v5, record Page { records, next });
/// baton_runtime::conv!(v4 <=> v5, enum Verdict { Match, Ambiguous, None });
/// baton_runtime::conv!(v4 => v5, variant CatalogError { Denied, Invalid, Quota, Io });
/// ```
#[macro_export]
macro_rules! conv {
    ($a:ident <=> $b:ident, $kind:ident $n:ident { $($f:ident),* $(,)? }) => {
        $crate::conv!($a => $b, $kind $n { $($f),* });
        $crate::conv!($b => $a, $kind $n { $($f),* });
    };
    ($a:ident => $b:ident, record $n:ident { $($f:ident),* $(,)? }) => {
        impl $crate::adapt::Conv<$b::$n> for $a::$n {
            fn conv(self) -> $b::$n {
                $b::$n { $($f: $crate::adapt::Conv::conv(self.$f)),* }
            }
        }
    };
    ($a:ident => $b:ident, enum $n:ident { $($c:ident),* $(,)? }) => {
        impl $crate::adapt::Conv<$b::$n> for $a::$n {
            fn conv(self) -> $b::$n {
                match self { $($a::$n::$c => $b::$n::$c),* }
            }
        }
    };
    ($a:ident => $b:ident, variant $n:ident { $($c:ident),* $(,)? }) => {
        impl $crate::adapt::Conv<$b::$n> for $a::$n {
            fn conv(self) -> $b::$n {
                match self { $($a::$n::$c(m) => $b::$n::$c($crate::adapt::Conv::conv(m))),* }
            }
        }
    };
}
