//! dedup (todo)
