-- Counters with a second label (SQLite's schema v6; see `stats.rs`): failed and rejected
-- answers by error code, and retries by kind (`automatic`, scheduled by the pipeline after a
-- transient failure; `manual`, asked for with `baton retry`). Never pruned, like stat_counts.
CREATE TABLE stat_events(
    event TEXT NOT NULL,
    plugin TEXT NOT NULL,
    detail TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY(event, plugin, detail)
);
