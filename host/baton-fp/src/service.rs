//! service (todo)
