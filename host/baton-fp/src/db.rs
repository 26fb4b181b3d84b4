//! db (todo)
