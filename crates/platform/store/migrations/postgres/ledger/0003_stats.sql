-- The dashboard's summary tables (see `stats.rs`; SQLite's schema v5), on the shared ledger:
-- counters by status and plugin that no pruning touches, per-minute and per-hour latency
-- histograms (sparse encoded buckets), the all-time run-time histogram for `/metrics`, and the
-- alerts with their firings. Written in each group's transaction, by every host.
CREATE TABLE stat_counts(
    status TEXT NOT NULL,
    plugin TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY(status, plugin)
);
CREATE TABLE stat_minutes(
    minute BIGINT NOT NULL,
    plugin TEXT NOT NULL,
    completed BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    drop_hist BYTEA NOT NULL,
    drop_sum DOUBLE PRECISION NOT NULL,
    run_hist BYTEA NOT NULL,
    run_sum DOUBLE PRECISION NOT NULL,
    PRIMARY KEY(minute, plugin)
);
CREATE TABLE stat_hours(
    hour BIGINT NOT NULL,
    plugin TEXT NOT NULL,
    completed BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    drop_hist BYTEA NOT NULL,
    drop_sum DOUBLE PRECISION NOT NULL,
    run_hist BYTEA NOT NULL,
    run_sum DOUBLE PRECISION NOT NULL,
    PRIMARY KEY(hour, plugin)
);
CREATE TABLE stat_duration(
    bucket BIGINT PRIMARY KEY,
    n BIGINT NOT NULL
);
CREATE TABLE stat_totals(
    name TEXT PRIMARY KEY,
    value DOUBLE PRECISION NOT NULL
);
CREATE TABLE alerts(
    id TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    labels TEXT NOT NULL,
    summary TEXT NOT NULL,
    state TEXT NOT NULL,
    firing BIGINT NOT NULL,
    started_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    resolved_at TEXT,
    acked_at TEXT,
    notified_firing BIGINT NOT NULL DEFAULT 0,
    notified TEXT
);
