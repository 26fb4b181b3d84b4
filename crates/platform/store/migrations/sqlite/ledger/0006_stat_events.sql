-- Counters with a second label (issue 33; see `stats`): failed and rejected answers by
-- error code, and retries by kind (`automatic`, `manual`). Never pruned, like stat_counts.
CREATE TABLE IF NOT EXISTS stat_events(
   event TEXT NOT NULL,
   plugin TEXT NOT NULL,
   detail TEXT NOT NULL,
   n INTEGER NOT NULL,
   PRIMARY KEY(event, plugin, detail)
) WITHOUT ROWID;
