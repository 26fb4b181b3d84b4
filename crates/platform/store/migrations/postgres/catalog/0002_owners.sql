-- Which install of a plugin owns its name's data (SQLite: `cat_owners` in schema.rs): the
-- install identity that first wrote under that name. Another component that takes the name
-- later is not that owner (see `Catalog::bind_owner`).
CREATE TABLE IF NOT EXISTS cat_owners (
    owner TEXT PRIMARY KEY,
    identity TEXT NOT NULL
);
