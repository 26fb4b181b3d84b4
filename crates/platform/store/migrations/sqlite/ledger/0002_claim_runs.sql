-- The poison-pill guard. A claim taken over from a dead process runs alone with
-- `solo` set; finding `solo` still set means the process died while it ran alone.
CREATE TABLE IF NOT EXISTS claim_runs(
   claim TEXT PRIMARY KEY,
   deaths INTEGER NOT NULL DEFAULT 0,
   solo INTEGER NOT NULL DEFAULT 0
);
