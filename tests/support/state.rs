//! One scenario on both ledgers: [`Backend`] is where a test's ledger is, the home's SQLite
//! file or a database of its own on a private PostgreSQL server ([`super::pg`]), with what the
//! test needs to look at it from outside: the ledger opened as `baton` opens it, and raw SQL
//! for the few steps that simulate a crash or an outside change (written for each dialect).
#![allow(dead_code)]

use super::Home;
use super::pg::Pg;

pub enum Backend {
    Sqlite,
    Postgres { pg: Pg, db: String },
}

impl Backend {
    /// A private PostgreSQL server with database `db`; `None` when the PostgreSQL tests are
    /// skipped (`BATON_TEST_NO_POSTGRES=1`, said loudly by [`Pg::start`]).
    pub fn postgres(db: &str) -> Option<Backend> {
        let pg = Pg::start()?;
        pg.create_db(db);
        Some(Backend::Postgres { pg, db: db.to_string() })
    }

    /// A home (as [`Home::init`]) whose ledger is this backend.
    pub fn home(&self, settings: &[(&str, &str)], extra: &str) -> Home {
        match self {
            // The embedded default, whatever BATON_TEST_STATE says.
            Backend::Sqlite => Home::init_on(None, settings, extra),
            Backend::Postgres { pg, db } => Home::init_on(Some(&pg.url(db)), settings, extra),
        }
    }

    /// The ledger, opened where `baton` opens it for `h`.
    pub fn ledger(&self, h: &Home) -> baton_ledger::Ledger {
        let location = match self {
            Backend::Sqlite => baton_ledger::Location::Sqlite(h.root.join("state/baton.sqlite")),
            Backend::Postgres { pg, db } => baton_ledger::Location::parse(&pg.url(db)).unwrap(),
        };
        baton_ledger::Ledger::open_at(&location).unwrap()
    }

    /// Runs `sqlite` on the SQLite file, or `postgres` on the database.
    pub fn sql(&self, h: &Home, sqlite: &str, postgres: &str) {
        match self {
            Backend::Sqlite => {
                let conn = baton_store::sqlite::open_wal(&h.root.join("state/baton.sqlite"), "NORMAL").unwrap();
                conn.execute_batch(sqlite).unwrap();
            }
            Backend::Postgres { pg, db } => {
                let out = pg.psql(db, postgres);
                assert!(out.status.success(), "{postgres}: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
    }
}
