-- Claims across machines. Each machine sees its own synced copy of the inbox; the row here is
-- the claim, keyed by the handoff's id and content hash (a file that does not parse: `file:`
-- and its name, and the hash of its bytes). `owner` is a host (one machine's baton home);
-- a claim is held while its owner's heartbeat is fresh (the lease), and taken over after.
-- `state`: `claimed` (the original is still in the owner's inbox) or `filed` (the owner moved
-- it out; a copy the sync service brings back is filed by the owner, never run).
CREATE TABLE hosts(
    host TEXT PRIMARY KEY,
    instance TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE claims(
    handoff_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    claim_id TEXT NOT NULL,
    file_name TEXT NOT NULL,
    owner TEXT NOT NULL,
    state TEXT NOT NULL,
    claimed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    filed_at TIMESTAMPTZ,
    PRIMARY KEY(handoff_id, content_hash)
);
CREATE INDEX claims_owner ON claims(owner, state);
