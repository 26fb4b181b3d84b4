-- The catalog on PostgreSQL: the same tables as on SQLite (../../sqlite/catalog/0001_catalog.sql),
-- with text compared byte by byte (COLLATE "C", as SQLite does) so keys sort and page the same
-- on both, and one counter row that hands out the change log's sequence numbers inside each
-- writing transaction (never a SEQUENCE: those commit out of order).
CREATE TABLE cat_counter (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO cat_counter (id, seq) VALUES (1, 0);

CREATE TABLE cat_collections (
    name TEXT COLLATE "C" PRIMARY KEY,
    owner TEXT NOT NULL,
    created_seq BIGINT NOT NULL,
    generation BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE cat_properties (
    collection TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    target TEXT COLLATE "C",
    inverse TEXT COLLATE "C",
    stored BIGINT NOT NULL DEFAULT 1,
    "integer" BIGINT NOT NULL DEFAULT 0,
    owner TEXT NOT NULL,
    archived BIGINT NOT NULL DEFAULT 0,
    position BIGINT NOT NULL,
    PRIMARY KEY (collection, id)
);
CREATE TABLE cat_records (
    collection TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    props TEXT NOT NULL,
    owner TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    created_seq BIGINT NOT NULL,
    updated_seq BIGINT NOT NULL,
    PRIMARY KEY (collection, key)
);
-- `target_key` of a relation to `files` is a path in one machine's fingerprint library
-- (fp.sqlite): a plain value here, checked when written, not a foreign key.
CREATE TABLE cat_links (
    collection TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    property TEXT COLLATE "C" NOT NULL,
    target TEXT COLLATE "C" NOT NULL,
    target_key TEXT COLLATE "C" NOT NULL,
    position BIGINT NOT NULL,
    added_at TEXT COLLATE "C",
    method TEXT NOT NULL,
    actor TEXT NOT NULL,
    removed BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (collection, key, property, target_key)
);
CREATE INDEX cat_links_target ON cat_links (target, target_key);
CREATE TABLE cat_changes (
    seq BIGINT PRIMARY KEY,
    collection TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C",
    op TEXT NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX cat_changes_record ON cat_changes (collection, key);
CREATE TABLE cat_usage (
    actor TEXT PRIMARY KEY,
    "rows" BIGINT NOT NULL,
    bytes BIGINT NOT NULL
);
