-- The task list's order as an index (issue 51): newest claim first, then the claim text, then
-- the id. Before this the order was an expression over `claimed_at` no index could hold, so
-- every page, and every search for a word in most tasks, sorted all the matching tasks
-- (~1.8 s for a word in 70,000 of 100,000 tasks); with it a page walks the index from the
-- newest task and stops after its 50 rows.
--
-- `baton_claimed_ts` is the claim time when `claimed_at` is RFC 3339 text with its zone (as
-- baton writes it), else NULL (sorted last). Declared IMMUTABLE, which an index requires and
-- a text-to-timestamptz cast is not in general: its result depends on the session's TimeZone
-- and DateStyle only for text without a zone or in another style, and the pattern lets only
-- ISO 8601 text with an explicit zone (`Z` or `±hh:mm`) reach the cast.
CREATE FUNCTION baton_claimed_ts(claimed_at TEXT) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN claimed_at ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$'
                      THEN claimed_at::timestamptz END $$;

CREATE INDEX tasks_newest ON tasks (baton_claimed_ts(claimed_at) DESC NULLS LAST, claimed_at DESC, id COLLATE "C" DESC);
