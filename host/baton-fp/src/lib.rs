//! placeholder: the fingerprint core
