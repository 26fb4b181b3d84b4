-- Search over baton's tasks (SQLite's schema v8, issue 51; the queries are the ledger's
-- `search.rs`): `body` holds the words of a task's params, error message and RETURN (summary
-- and result), at most 16 KiB, written when it finishes. `words` is its `tsvector` with the
-- `simple` configuration (no stemming, no stop words, no extension needed), stored so that no
-- plan ever computes it row by row, and indexed (GIN's pending list keeps the insert cheap in
-- the pipeline's transaction). `n`, `stamp` and `indexed` are a SQLite ledger's key and its
-- indexer's bookkeeping, kept so that `baton migrate` has a place for each copied column;
-- unused here.
CREATE TABLE task_text(
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL DEFAULT '',
    n BIGINT,
    stamp BIGINT NOT NULL DEFAULT 0,
    indexed BIGINT NOT NULL DEFAULT 0,
    words tsvector GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED
);
CREATE INDEX task_text_words ON task_text USING GIN (words);

-- The names (id, title, sender, reply-to) by trigram, when the server lets this database have
-- pg_trgm (a trusted extension since PostgreSQL 13: the database's owner may create it). Without
-- it (a warning in the server's log) the search compares every task's names, as before; the
-- queries are the same either way.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX tasks_names_trgm ON tasks
        USING GIN ((id || E'\n' || title || E'\n' || sender || E'\n' || reply_to) gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'baton: no trigram index of the task names (%): the task list''s search reads every task for them', SQLERRM;
END $$;

-- The tasks of an existing home: of their text what the ledger has, the error message, as words.
INSERT INTO task_text(id, body)
    SELECT id, lower(regexp_replace(left(error_message, 16384), '[^[:alnum:]]+', ' ', 'g')) FROM tasks
    WHERE error_message IS NOT NULL;
