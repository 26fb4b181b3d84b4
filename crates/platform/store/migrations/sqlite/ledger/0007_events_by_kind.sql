-- Events by kind, newest first (A2A's `ListTasks` pages through `a2a_sent`).
CREATE INDEX IF NOT EXISTS events_event ON events(event, seq);
