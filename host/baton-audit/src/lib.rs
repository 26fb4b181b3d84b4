//! placeholder: the plans audit core
