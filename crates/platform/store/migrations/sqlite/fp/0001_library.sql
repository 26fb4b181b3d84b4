-- The fingerprint library: every scanned file, quarantine batches and moves, deep prints, and
-- the roots `fp scan` was given. Written with IF NOT EXISTS: the libraries every release before
-- versioning made are this version.
CREATE TABLE IF NOT EXISTS fp_files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    title TEXT, artist TEXT, album TEXT, isrc TEXT,
    duration REAL,
    codec TEXT, sample_rate INTEGER, channels INTEGER, bitrate_kbps INTEGER,
    lossless INTEGER NOT NULL DEFAULT 0,
    fingerprint BLOB,
    error TEXT,
    error_kind TEXT,
    scanned_at INTEGER NOT NULL,
    quarantined INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS fp_batches (
    id INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    quarantine_dir TEXT NOT NULL,
    journal TEXT NOT NULL,
    state TEXT NOT NULL
);
-- A counter bumped by every change to fp_files, so a cached index can tell it is stale
-- without reading the table.
CREATE TABLE IF NOT EXISTS fp_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT OR IGNORE INTO fp_meta (id, generation) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS fp_files_gen_insert AFTER INSERT ON fp_files
    BEGIN UPDATE fp_meta SET generation = generation + 1; END;
CREATE TRIGGER IF NOT EXISTS fp_files_gen_update AFTER UPDATE ON fp_files
    BEGIN UPDATE fp_meta SET generation = generation + 1; END;
CREATE TRIGGER IF NOT EXISTS fp_files_gen_delete AFTER DELETE ON fp_files
    BEGIN UPDATE fp_meta SET generation = generation + 1; END;
CREATE TABLE IF NOT EXISTS fp_moves (
    batch_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    src TEXT NOT NULL,
    dst TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (batch_id, seq)
);
-- Deep mode (`fp scan --deep`): the whole-track prints of a file at each speed
-- (baton_signal::deep::SPEEDS, stored in thousandths). Written with the file's row, in one
-- transaction, and dropped whenever the row is rewritten without them.
CREATE TABLE IF NOT EXISTS fp_deep (
    file_id INTEGER NOT NULL,
    speed_milli INTEGER NOT NULL,
    print BLOB NOT NULL,
    PRIMARY KEY (file_id, speed_milli)
);
-- Folders `fp scan` was given: the quarantine goes into `<root>/.baton-quarantine/`.
CREATE TABLE IF NOT EXISTS fp_roots (
    path TEXT PRIMARY KEY
);
