-- The ledger's tables on PostgreSQL: the same rows as the SQLite schema (v1–v4 of schema.rs),
-- in PostgreSQL's dialect. Times are RFC 3339 text, as baton writes them on both backends.
CREATE TABLE tasks(
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
    duration_ms DOUBLE PRECISION
);
CREATE INDEX tasks_finished ON tasks(finished_at);

CREATE TABLE events(
    seq BIGSERIAL PRIMARY KEY,
    task_id TEXT NOT NULL,
    at TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX events_task ON events(task_id, seq);

-- The newest 200,000 log lines are kept, pruned every 1,024 inserts.
CREATE TABLE logs(
    seq BIGSERIAL PRIMARY KEY,
    task_id TEXT NOT NULL,
    at TEXT NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX logs_task ON logs(task_id, seq);
CREATE FUNCTION baton_logs_prune() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM logs WHERE seq <= NEW.seq - 200000;
    RETURN NULL;
END $$;
CREATE TRIGGER logs_prune AFTER INSERT ON logs FOR EACH ROW WHEN (NEW.seq % 1024 = 0)
    EXECUTE FUNCTION baton_logs_prune();

CREATE TABLE observed(
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
CREATE INDEX observed_reply ON observed(in_reply_to);

CREATE TABLE kv(
    plugin TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY(plugin, key)
);
-- Each plugin's key count and bytes (keys + values), kept by a trigger: a quota check is one row.
CREATE TABLE kv_usage(
    plugin TEXT PRIMARY KEY,
    keys BIGINT NOT NULL,
    bytes BIGINT NOT NULL
);
CREATE FUNCTION baton_kv_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO kv_usage(plugin, keys, bytes) VALUES (NEW.plugin, 1, octet_length(NEW.key) + octet_length(NEW.value))
            ON CONFLICT(plugin) DO UPDATE SET keys = kv_usage.keys + 1, bytes = kv_usage.bytes + excluded.bytes;
        RETURN NEW;
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE kv_usage SET bytes = bytes - octet_length(OLD.value) + octet_length(NEW.value) WHERE plugin = NEW.plugin;
        RETURN NEW;
    ELSE
        UPDATE kv_usage SET keys = keys - 1, bytes = bytes - octet_length(OLD.key) - octet_length(OLD.value)
            WHERE plugin = OLD.plugin;
        RETURN OLD;
    END IF;
END $$;
CREATE TRIGGER kv_usage AFTER INSERT OR UPDATE OR DELETE ON kv FOR EACH ROW EXECUTE FUNCTION baton_kv_usage();

-- The poison-pill guard: `solo` still set means a process died while the claim ran alone.
CREATE TABLE claim_runs(
    claim TEXT PRIMARY KEY,
    deaths INTEGER NOT NULL DEFAULT 0,
    solo INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE plugin_health(
    plugin TEXT PRIMARY KEY,
    health TEXT NOT NULL
);
CREATE TABLE plugin_refusals(
    file TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL
);
