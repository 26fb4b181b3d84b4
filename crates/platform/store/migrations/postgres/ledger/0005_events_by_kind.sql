-- Events by kind, newest first (SQLite's schema v7): A2A's `ListTasks` pages through the
-- `a2a_sent` events with `seq` as its cursor.
CREATE INDEX events_event ON events(event, seq);
