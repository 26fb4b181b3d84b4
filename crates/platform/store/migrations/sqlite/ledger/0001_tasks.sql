-- The tasks, their events and logs, the handoffs seen in inboxes, and plugins' key-value data.
CREATE TABLE IF NOT EXISTS tasks(
   id TEXT PRIMARY KEY,
   content_hash TEXT NOT NULL,
   claim TEXT NOT NULL,
   file_name TEXT NOT NULL,
   sender TEXT NOT NULL,
   reply_to TEXT NOT NULL,
   plugin TEXT,
   action TEXT,
   title TEXT NOT NULL,
   state TEXT NOT NULL,
   error_code TEXT,
   error_message TEXT,
   attempts INTEGER NOT NULL DEFAULT 0,
   return_name TEXT,
   claimed_at TEXT NOT NULL,
   finished_at TEXT,
   duration_ms REAL
);
CREATE INDEX IF NOT EXISTS tasks_finished ON tasks(finished_at);
CREATE TABLE IF NOT EXISTS events(
   seq INTEGER PRIMARY KEY AUTOINCREMENT,
   task_id TEXT NOT NULL,
   at TEXT NOT NULL,
   event TEXT NOT NULL,
   detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_task ON events(task_id, seq);
CREATE TABLE IF NOT EXISTS logs(
   seq INTEGER PRIMARY KEY AUTOINCREMENT,
   task_id TEXT NOT NULL,
   at TEXT NOT NULL,
   level TEXT NOT NULL,
   message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_task ON logs(task_id, seq);
CREATE TABLE IF NOT EXISTS observed(
   agent TEXT NOT NULL,
   file_name TEXT NOT NULL,
   kind TEXT NOT NULL,
   id TEXT NOT NULL,
   in_reply_to TEXT,
   sender TEXT NOT NULL,
   recipient TEXT,
   title TEXT NOT NULL,
   created_at TEXT NOT NULL,
   seen_at TEXT NOT NULL,
   PRIMARY KEY(agent, file_name)
);
CREATE INDEX IF NOT EXISTS observed_reply ON observed(in_reply_to);
CREATE TABLE IF NOT EXISTS kv(
   plugin TEXT NOT NULL,
   key TEXT NOT NULL,
   value TEXT NOT NULL,
   PRIMARY KEY(plugin, key)
);
