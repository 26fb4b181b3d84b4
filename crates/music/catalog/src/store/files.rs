//! `files`: the fingerprint library's files as a read-only collection, read through the source
//! the app wires ([`crate::FilesSource`]) over this machine's SQLite file, and the questions
//! plugins ask of it under their grants.
use super::*;

impl Catalog {
    /// `files` records whose host path lies under one of `roots` (a folder: the path itself or
    /// below it), by path order after `after`: the library filtered on its path index, so a page
    /// costs the page, not the library.
    pub fn files_under(
        &self,
        access: &Access,
        roots: &[String],
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RecordOut>> {
        self.check_read(access, FILES)?;
        self.files_page(None, Some(roots), after, limit)
    }

    /// How many `files` records lie under `roots` (see [`Catalog::files_under`]).
    pub fn files_count_under(&self, access: &Access, roots: &[String]) -> Result<u64> {
        self.check_read(access, FILES)?;
        self.files_count(Some(roots))
    }

    /// Follows a library file that a plugin moved (`spotify apply` and `undo` do, inside a
    /// writable grant) to `to`, so it is linked at once instead of after the next `baton fp
    /// scan`: the one library row under `roots` whose file is gone and whose size and mtime are
    /// `to`'s (a rename keeps both) takes `to` as its path, with its fingerprint and tags.
    /// Nothing changes when no row, or more than one, fits (two copies made with `cp -p`): a
    /// rescan finds the file then. Returns the new key when the row followed.
    pub fn files_follow_move(&self, access: &Access, roots: &[String], to: &str) -> Result<Option<String>> {
        self.check_read(access, FILES)?;
        match self.library() {
            Some((source, conn)) => Ok(source.follow_move(conn, roots, to)?),
            None => Ok(None),
        }
    }

    /// How many `files` records: all, or those under `roots`.
    pub(super) fn files_count(&self, roots: Option<&[String]>) -> Result<u64> {
        match self.library() {
            Some((source, conn)) => Ok(source.count(conn, roots)?),
            None => Ok(0),
        }
    }

    /// `files` records: the one at `key`, or a page after `after` (of all, or under `roots`).
    pub(super) fn files_page(
        &self,
        key: Option<&str>,
        roots: Option<&[String]>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RecordOut>> {
        let Some((source, conn)) = self.library() else { return Ok(Vec::new()) };
        let files = source.page(conn, key, roots, after.unwrap_or(""), limit)?;
        Ok(files.into_iter().map(virtuals::file_record).collect())
    }

    /// Whether `path` is a `files` record.
    pub(super) fn file_exists(&self, path: &str) -> Result<bool> {
        match self.library() {
            Some((source, conn)) => Ok(source.contains(conn, path)?),
            None => Ok(false),
        }
    }
}
