-- Search over baton's tasks (issue 51; the queries and the indexer are the ledger's `search.rs`
-- and `sqlite.rs`).
--
-- `task_text`: one row per task, `body` the words of its params, error message and RETURN
-- (summary and result), at most 16 KiB, written when the task finishes; empty before that.
-- `n` is the task's key in the full-text index and the list's order (claim order): an INTEGER
-- PRIMARY KEY (a rowid alias), so that VACUUM, which may renumber a plain rowid, never changes
-- it. `stamp` grows with every change of the row (its claim, a new title or agents, a finish):
-- the index holds every row up to `task_search_mark.indexed`, and a search reads the rows above
-- it directly, so its answer is whole whether or not the indexer has caught up.
--
-- Nothing here is indexed inside the pipeline's transaction: the claim and the finish write
-- this plain row (two b-tree entries and the stamp's), and the indexer (`serve` when idle, a
-- search before it runs) moves rows into the index in batches. `baton migrate` copies
-- `task_text` (PostgreSQL indexes `body` itself); the `task_search_*` tables stay behind.
CREATE TABLE task_text(
   n INTEGER PRIMARY KEY,
   id TEXT NOT NULL UNIQUE,
   body TEXT NOT NULL DEFAULT '',
   stamp INTEGER NOT NULL DEFAULT 0,
   -- 1 once the indexer has put the row in the index (its next pass deletes the old entry).
   indexed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX task_text_stamp ON task_text(stamp);
-- The highest `stamp` the index holds.
CREATE TABLE task_search_mark(
   one INTEGER PRIMARY KEY CHECK (one = 1),
   indexed INTEGER NOT NULL
);
INSERT INTO task_search_mark(one, indexed) VALUES (1, 0);
-- One index of the words of the body and of the names (id, title, sender, reply-to), as the
-- indexer writes them (`search::index_words`: lowercased runs of letters and digits,
-- space-separated), so `ascii` splits exactly there. Contentless (the words are not stored
-- twice) with deletes, and no positions (`detail = none`: a query is words that must all be
-- there, each a word's beginning, never a phrase).
CREATE VIRTUAL TABLE task_search_words USING fts5(
   words, content = '', contentless_delete = 1, tokenize = 'ascii', detail = none
);

-- Every task has its row from its first claim (so its names are found at once, directly until
-- indexed); a re-claim that changes its title or agents stamps it again.
CREATE TRIGGER tasks_search_insert AFTER INSERT ON tasks BEGIN
   INSERT INTO task_text(id, stamp) VALUES (new.id, (SELECT coalesce(max(stamp), 0) + 1 FROM task_text))
      ON CONFLICT(id) DO UPDATE SET stamp = excluded.stamp;
END;
CREATE TRIGGER tasks_search_update AFTER UPDATE OF title, sender, reply_to ON tasks BEGIN
   UPDATE task_text SET stamp = (SELECT coalesce(max(stamp), 0) + 1 FROM task_text) WHERE id = new.id;
END;
-- Deletes are rare (nothing in baton deletes tasks on the hot path): the entry leaves the index
-- with its row.
CREATE TRIGGER tasks_search_delete AFTER DELETE ON tasks BEGIN
   DELETE FROM task_search_words WHERE rowid = (SELECT n FROM task_text WHERE id = old.id AND indexed = 1);
   DELETE FROM task_text WHERE id = old.id;
END;

-- The tasks of an existing home, in the order they were claimed (the task list's order): of
-- their text what the ledger has, the error message (the indexer splits it into words). Their
-- params and RETURN are indexed the next time they finish. All stamped above the mark: the
-- indexer takes them in batches, and until then a search reads them directly.
INSERT INTO task_text(id, body, stamp)
   SELECT id, substr(coalesce(error_message, ''), 1, 16384), row_number() OVER (ORDER BY rowid) FROM tasks ORDER BY rowid;
