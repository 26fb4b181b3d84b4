-- Search over baton's tasks (issue 51; the queries are the ledger's `search.rs`).
--
-- `task_text`: one row per task, `body` the words of its params, error message and RETURN
-- (summary and result), at most 16 KiB, written when the task finishes; empty before that.
-- `n` is the key of both full-text indexes: an INTEGER PRIMARY KEY (a rowid alias), so that
-- VACUUM, which may renumber a plain rowid, never changes it. `baton migrate` copies this table
-- (PostgreSQL indexes `body` itself); the two FTS5 tables below stay behind.
CREATE TABLE task_text(
   n INTEGER PRIMARY KEY,
   id TEXT NOT NULL UNIQUE,
   body TEXT NOT NULL DEFAULT ''
);
-- The words of `body` (an external-content index: the text is stored once, in task_text). The
-- body is already words (lowercased runs of letters and digits, space-separated): `ascii` splits
-- it exactly there and nowhere else, so a query word is one token, and the index needs no
-- positions (`detail = none`: a query is words that must all be there, never a phrase).
CREATE VIRTUAL TABLE task_search_words USING fts5(
   body, content = 'task_text', content_rowid = 'n', tokenize = 'ascii', detail = none
);
-- Id, title, sender and reply-to by trigram, so that `q` keeps matching any part of them, as
-- LIKE '%q%' did, without reading every task. Contentless: the text is the tasks row's.
CREATE VIRTUAL TABLE task_search_names USING fts5(
   id, title, sender, reply_to, content = '', contentless_delete = 1, tokenize = 'trigram case_sensitive 0'
);

-- An empty body (a task not finished yet) has no row in the index: a claim costs it nothing.
CREATE TRIGGER task_text_insert AFTER INSERT ON task_text WHEN new.body <> '' BEGIN
   INSERT INTO task_search_words(rowid, body) VALUES (new.n, new.body);
END;
CREATE TRIGGER task_text_unindex AFTER UPDATE OF body ON task_text WHEN old.body <> '' BEGIN
   INSERT INTO task_search_words(task_search_words, rowid, body) VALUES ('delete', old.n, old.body);
END;
CREATE TRIGGER task_text_index AFTER UPDATE OF body ON task_text WHEN new.body <> '' BEGIN
   INSERT INTO task_search_words(rowid, body) VALUES (new.n, new.body);
END;
CREATE TRIGGER task_text_delete AFTER DELETE ON task_text BEGIN
   INSERT INTO task_search_words(task_search_words, rowid, body) SELECT 'delete', old.n, old.body WHERE old.body <> '';
   DELETE FROM task_search_names WHERE rowid = old.n;
END;

-- Every task has its row from its first claim (so its names are searchable at once); a
-- re-claim that changes its title or agents re-indexes them.
CREATE TRIGGER tasks_search_insert AFTER INSERT ON tasks BEGIN
   INSERT INTO task_text(id) VALUES (new.id) ON CONFLICT(id) DO NOTHING;
   INSERT OR REPLACE INTO task_search_names(rowid, id, title, sender, reply_to)
      SELECT n, new.id, new.title, new.sender, new.reply_to FROM task_text WHERE id = new.id;
END;
CREATE TRIGGER tasks_search_update AFTER UPDATE OF title, sender, reply_to ON tasks BEGIN
   INSERT OR REPLACE INTO task_search_names(rowid, id, title, sender, reply_to)
      SELECT n, new.id, new.title, new.sender, new.reply_to FROM task_text WHERE id = new.id;
END;
CREATE TRIGGER tasks_search_delete AFTER DELETE ON tasks BEGIN
   DELETE FROM task_text WHERE id = old.id;
END;

-- The tasks of an existing home, in the order they were claimed (the task list's order): their
-- names, and of their text what the ledger has, the error message (as it is: the index splits it
-- into words). Their params and RETURN are indexed the next time they finish.
INSERT INTO task_text(id, body) SELECT id, substr(coalesce(error_message, ''), 1, 16384) FROM tasks ORDER BY rowid;
INSERT INTO task_search_names(rowid, id, title, sender, reply_to)
   SELECT x.n, t.id, t.title, t.sender, t.reply_to FROM task_text x JOIN tasks t ON t.id = x.id;
