-- Search over baton's tasks (SQLite's schema v8, issue 51; the queries are the ledger's
-- `search.rs`): `body` holds the words of a task's params, error message and RETURN (summary
-- and result), at most 16 KiB, written when it finishes. Indexed as words with the `simple`
-- configuration (no stemming, no stop words, no extension needed). `n` is the key a SQLite
-- ledger's full-text index used, kept so that `baton migrate` has a place for it; unused here.
CREATE TABLE task_text(
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL DEFAULT '',
    n BIGINT
);
CREATE INDEX task_text_words ON task_text USING GIN (to_tsvector('simple', body));

-- The tasks of an existing home: of their text what the ledger has, the error message, as words.
INSERT INTO task_text(id, body)
    SELECT id, lower(regexp_replace(left(error_message, 16384), '[^[:alnum:]]+', ' ', 'g')) FROM tasks
    WHERE error_message IS NOT NULL;
