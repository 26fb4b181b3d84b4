//! Which database errors may pass: a full disk, an I/O error, a database busy or locked too
//! long, a server that went away or ended a statement. The ledger, the catalog and the host
//! interfaces behind plugins all judge their errors with these two functions, so "pause and
//! try again" means the same thing for every part of the state (see the book's faults page).

/// An SQLite error that may pass: back off and try again rather than stop or fail the work.
/// A corrupt file, a schema mismatch or a constraint is not.
pub fn sqlite(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode as C;
    match e {
        rusqlite::Error::SqliteFailure(e, _) => {
            matches!(e.code, C::DiskFull | C::SystemIoFailure | C::DatabaseBusy | C::DatabaseLocked | C::OutOfMemory)
        }
        _ => false,
    }
}

/// A PostgreSQL error that may pass: the connection is gone (class 08, an I/O error or a
/// timeout talking to the server), the server is shutting down or out of resources (57P, 53),
/// a serialization failure or deadlock (40001, 40P01), a unique violation from another
/// host's concurrent transaction (the retry sees its row), or a statement the server ended at
/// `statement_timeout` (57014: a lock held too long, a server overloaded). Anything else is not.
pub fn postgres(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        let c = code.code();
        return c.starts_with("08")
            || c.starts_with("57P")
            || c.starts_with("53")
            || matches!(c, "40001" | "40P01" | "23505" | "57014");
    }
    // No SQLSTATE: an I/O error or a timeout talking to the server.
    std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()) || {
        let m = e.to_string();
        m.contains("connect") || m.contains("closed") || m.contains("timeout") || m.contains("communicating")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_or_a_busy_database_passes_a_constraint_does_not() {
        let failure = |code| rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
        assert!(sqlite(&failure(rusqlite::ffi::SQLITE_FULL)));
        assert!(sqlite(&failure(rusqlite::ffi::SQLITE_IOERR)));
        assert!(sqlite(&failure(rusqlite::ffi::SQLITE_BUSY)));
        assert!(!sqlite(&failure(rusqlite::ffi::SQLITE_CORRUPT)));
        assert!(!sqlite(&failure(rusqlite::ffi::SQLITE_CONSTRAINT)));
        assert!(!sqlite(&rusqlite::Error::QueryReturnedNoRows));
    }
}
