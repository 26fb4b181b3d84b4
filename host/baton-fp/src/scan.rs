//! scan (todo)
