//! quarantine (todo)
