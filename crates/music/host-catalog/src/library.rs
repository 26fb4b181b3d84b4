//! The fingerprint library (`baton-fp`) as the catalog's `files` source: the one place the two
//! music domains meet, so neither reads the other's tables. Every host of the catalog (plugins
//! through [`crate::CatalogHost`], `baton catalog`, the dashboard) wires this same source.
use std::path::Path;
use std::sync::Arc;

use baton_catalog::{FilesSource, LibraryFile};
use baton_ledger::rusqlite::{self, Connection};

/// The library in this machine's state file, read through the catalog's connection to it; its
/// match index is kept between calls ([`baton_fp::service::Matcher`]).
pub struct LibraryFiles {
    matcher: baton_fp::service::Matcher,
}

impl LibraryFiles {
    /// The library in the SQLite file `state` (the catalog's own on SQLite; on PostgreSQL, this
    /// machine's [`baton_ledger::Location::local_file`]).
    pub fn at(state: &Path) -> Arc<LibraryFiles> {
        Arc::new(LibraryFiles { matcher: baton_fp::service::Matcher::new(state) })
    }
}

fn file(f: baton_fp::files::LibraryFile) -> LibraryFile {
    LibraryFile {
        path: f.path,
        title: f.title,
        artist: f.artist,
        album: f.album,
        isrc: f.isrc,
        duration: f.duration,
        codec: f.codec,
        lossless: f.lossless,
        size: f.size,
        fingerprinted: f.fingerprinted,
    }
}

impl FilesSource for LibraryFiles {
    fn count(&self, conn: &Connection, roots: Option<&[String]>) -> rusqlite::Result<u64> {
        baton_fp::files::count(conn, roots)
    }

    fn page(
        &self,
        conn: &Connection,
        key: Option<&str>,
        roots: Option<&[String]>,
        after: &str,
        limit: usize,
    ) -> rusqlite::Result<Vec<LibraryFile>> {
        Ok(baton_fp::files::page(conn, key, roots, after, limit)?.into_iter().map(file).collect())
    }

    fn contains(&self, conn: &Connection, path: &str) -> rusqlite::Result<bool> {
        baton_fp::files::contains(conn, path)
    }

    fn follow_move(&self, conn: &Connection, roots: &[String], to: &str) -> rusqlite::Result<Option<String>> {
        baton_fp::files::follow_move(conn, roots, to)
    }

    fn fingerprint(&self, conn: &Connection, path: &str) -> rusqlite::Result<Option<Vec<u32>>> {
        Ok(baton_fp::files::fingerprint(conn, path)?.map(|b| baton_signal::fingerprint::from_bytes(&b)))
    }

    fn sounds_like(
        &self,
        print: &[u32],
        file: &Path,
        limit: usize,
        stop: &dyn Fn() -> bool,
    ) -> Result<Vec<(String, f64)>, String> {
        let hits = self
            .matcher
            .best_matches(print, baton_fp::dedup::DEFAULT_MIN_SIMILARITY, limit, |p| p != file, stop)
            .map_err(|e| e.to_string())?;
        Ok(hits.into_iter().map(|h| (h.path.to_string_lossy().into_owned(), h.score)).collect())
    }
}
