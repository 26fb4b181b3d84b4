//! `baton catalog …`: the user's view of the shared music catalog (`baton-catalog`): list
//! collections, show and export records, import a CSV (with a dry run), link and unlink by hand,
//! rename and remove properties, match a track and read one record's history. Every read command
//! takes `--json`. Errors become `anyhow` here, naming the file, collection or property and the fix.
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use baton_catalog::{Access, Catalog, Filter, Kind, Property, Record, TrackQuery, Verdict, normalize_isrc};
use serde_json::{Map, Value, json};

use baton_cli::say;

#[derive(clap::Subcommand)]
#[command(defer = true)] // flags defined when the command runs (see `baton_app`'s `Command`)
pub enum CatalogCommand {
    /// The collections, their owners, record counts and properties.
    Collections {
        /// JSON: [{"name", "owner", "records", "read_only", "properties": [...]}].
        #[arg(long)]
        json: bool,
    },
    /// The records of a collection, by key; with KEY, that one record, and a playlist with its
    /// entries in order, repeats included.
    Show {
        collection: String,
        /// One record: a playlist's entries are listed in order (position, track, artist -
        /// title, duration, file); `--json`: {"collection", "key", "record", "playlist":
        /// {"name", "property", "target", "entries": [{"position", "track", "title",
        /// "artists", "duration_ms", "location", …}], "tracks", "repeated"} or null}.
        key: Option<String>,
        /// `prop=value`, `prop~substring`, `prop>number`, `prop<number`, joined by `,` (and).
        #[arg(long = "where", value_name = "EXPR")]
        filter: Option<String>,
        /// Also show the values of removed (archived) properties.
        #[arg(long)]
        archived: bool,
        /// Most records to show.
        #[arg(long, default_value_t = 100_000)]
        limit: usize,
        /// JSON: {"collection", "records": [{"key", "props", "archived"?}], "next"}.
        #[arg(long)]
        json: bool,
    },
    /// Write a collection as CSV on stdout: `_key`, then one column per property by display
    /// name; relations as the related keys joined with `;`. A cell starting with `=`, `+`,
    /// `-`, `@` or `'` gets a leading `'` (no formulas ride in through a name); `import`
    /// removes it. The drive-sync plugin writes the same bytes.
    /// With `--format m3u|rekordbox`: one playlist (by key or name; give its collection first
    /// when it is not in `playlists`) as an extended m3u or a Rekordbox XML, its entries in
    /// order with repeats, to stdout or `--out FILE` (an existing file only with `--force`).
    Export {
        collection: String,
        /// The playlist, when the collection is named first.
        playlist: Option<String>,
        /// CSV output of a whole collection.
        #[arg(long, conflicts_with = "format")]
        csv: bool,
        /// A playlist as `m3u` (extended, UTF-8) or `rekordbox` (DJ_PLAYLISTS XML).
        #[arg(long, value_name = "m3u|rekordbox")]
        format: Option<String>,
        /// Write to FILE instead of stdout.
        #[arg(long, value_name = "FILE", requires = "format")]
        out: Option<PathBuf>,
        /// Replace FILE when it exists.
        #[arg(long, requires = "out")]
        force: bool,
        /// JSON summary (with --out): {"collection", "key", "name", "format", "out", "entries",
        /// "written", "without_file": [{"position", "track", …}]}.
        #[arg(long, requires = "out")]
        json: bool,
    },
    /// Upsert a CSV into a collection, in one transaction (all rows or none). Columns are
    /// property ids (display names are accepted too); lists and relations are joined with `;`;
    /// `duration_ms` is in milliseconds. An empty cell leaves the property as it is.
    Import {
        collection: String,
        file: PathBuf,
        /// The key column (default `key`, else `_key` as `export` writes it).
        #[arg(long, value_name = "COL")]
        key: Option<String>,
        /// Show what would be inserted, updated and unchanged, and write nothing.
        #[arg(long = "dry-run", short = 'p', visible_alias = "pretend")]
        dry_run: bool,
        /// JSON: {"collection", "file", "dry_run", "inserted", "updated", "unchanged"}.
        #[arg(long)]
        json: bool,
    },
    /// Link a record to another through a relation property, by hand (method `manual`; no
    /// plugin overwrites it).
    Link { collection: String, key: String, property: String, target_key: String },
    /// The links of one record's relation, in order: key, position, added_at and how each was
    /// made (`manual`, a match method, or none for a data link such as playlist membership).
    Links {
        collection: String,
        key: String,
        property: String,
        /// JSON: [{"key", "position", "added_at", "method"}] (method null for a data link).
        #[arg(long)]
        json: bool,
    },
    /// Remove a link (a hand-made unlink stays unlinked).
    Unlink { collection: String, key: String, property: String, target_key: String },
    /// Rename or remove a property (values are kept: removal archives them).
    #[command(subcommand)]
    Property(PropertyCommand),
    /// Match a track ("Artist - Title") against `tracks`. Exits 0 for a match, 1 for
    /// ambiguous or none.
    Match {
        query: String,
        /// The track's duration in seconds.
        #[arg(long)]
        duration: Option<f64>,
        /// The ISRC (any case, hyphens allowed; a malformed one is ignored with a warning).
        #[arg(long)]
        isrc: Option<String>,
        /// JSON: {"verdict": "match"|"ambiguous"|"none", "candidates": [{"key", "title",
        /// "artists", "duration_ms", "score", "method", "reasons"}]}, best first.
        #[arg(long)]
        json: bool,
    },
    /// Import playlists, read by their content: m3u/m3u8, PLS, XSPF, JSPF, ASX (XML or INI) and
    /// WPL (UTF-8 ± BOM, UTF-16 with a BOM, Windows-1252) into `playlists`, keyed by the
    /// playlist file's path, each entry linked to the library's `files` by path (else listed as
    /// unmatched; URLs are entries of kind `url`). A file that is no playlist is refused with
    /// what it looks like (exit 1). Exits 0 when every file was read.
    ImportPlaylist {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Show what would be linked, added and removed, and write nothing.
        #[arg(long = "dry-run", short = 'p')]
        dry_run: bool,
        /// Apply a re-import that removes more than half of a playlist's files.
        #[arg(long = "accept-shrink")]
        accept_shrink: bool,
        /// JSON: [{"file", "key", "name", "format", "encoding", "entries", "matched",
        /// "matched_by_tail", "unmatched": [{"line", "entry", "location", "artist", "title"}],
        /// "added", "removed", "dry_run", "note"?, "suspicious"?}] or {"file", "error"}.
        #[arg(long)]
        json: bool,
    },
    /// The changes to one record, oldest first.
    History {
        collection: String,
        key: String,
        /// JSON: [{"seq", "collection", "key", "op", "actor", "at", "detail"}].
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Subcommand)]
#[command(defer = true)] // flags defined when the command runs (see `baton_app`'s `Command`)
pub enum PropertyCommand {
    /// Change a property's display name; its id and values stay.
    Rename { collection: String, property: String, new_name: String },
    /// Remove a property from the schema; its values are archived (`show --archived`).
    Remove { collection: String, property: String },
}

fn open(ctx: &baton_cli::Ctx) -> anyhow::Result<Catalog> {
    // On PostgreSQL the catalog is on the server; the fingerprint library behind `files` stays
    // in this machine's own file (`ctx.state`).
    let mut cat = Catalog::open_at(&ctx.location, &ctx.state)
        .with_context(|| format!("open the catalog in {}", ctx.location.shown()))?;
    cat.set_audit_reports(Some(crate::wiring::reports_dir_of(ctx)), crate::wiring::audit_gaps());
    cat.set_handoffs(crate::wiring::handoffs(&ctx.location));
    cat.set_files(baton_host_catalog::LibraryFiles::at(&ctx.state));
    Ok(cat)
}

impl CatalogCommand {
    /// The collection the command names, if any.
    fn collection_mut(&mut self) -> Option<&mut String> {
        match self {
            // A playlist named alone (`export PLAYLIST --format m3u`) is no collection.
            CatalogCommand::Export { playlist: None, format: Some(_), .. } => None,
            CatalogCommand::Show { collection, .. }
            | CatalogCommand::Export { collection, .. }
            | CatalogCommand::Import { collection, .. }
            | CatalogCommand::Link { collection, .. }
            | CatalogCommand::Links { collection, .. }
            | CatalogCommand::Unlink { collection, .. }
            | CatalogCommand::History { collection, .. }
            | CatalogCommand::Property(PropertyCommand::Rename { collection, .. })
            | CatalogCommand::Property(PropertyCommand::Remove { collection, .. }) => Some(collection),
            CatalogCommand::Collections { .. }
            | CatalogCommand::Match { .. }
            | CatalogCommand::ImportPlaylist { .. } => None,
        }
    }
}

/// The collection a user means by `name`: the collection of that exact name, else the one
/// plugin collection `<plugin>.<name>` (the djay issue names `djay_tracks`, the catalog keeps it
/// as `djay.djay_tracks`, owned by the plugin). Two plugins with the same short name are an
/// error that lists both, never a guess.
fn resolve_collection(names: &[String], name: &str) -> anyhow::Result<String> {
    if name.contains('.') || names.iter().any(|n| n == name) {
        return Ok(name.to_string());
    }
    let owned: Vec<&String> =
        names.iter().filter(|n| n.split_once('.').is_some_and(|(_, short)| short == name)).collect();
    match owned.as_slice() {
        [] => Ok(name.to_string()),
        [one] => Ok((*one).clone()),
        many => bail!(
            "collection `{name}` is ambiguous: {}; name it in full",
            many.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        ),
    }
}

pub fn run(mut cmd: CatalogCommand, ctx: &baton_cli::Ctx) -> anyhow::Result<i32> {
    let user = Access::user();
    if let Some(collection) = cmd.collection_mut()
        && !collection.contains('.')
    {
        let names: Vec<String> = open(ctx)?.collections(&user)?.into_iter().map(|c| c.name).collect();
        *collection = resolve_collection(&names, collection)?;
    }
    match cmd {
        CatalogCommand::Collections { json } => collections(ctx, &user, json),
        CatalogCommand::Show { collection, key: Some(key), json, .. } => {
            crate::playlist_export::show_one(&open(ctx)?, &user, &collection, &key, json)
        }
        CatalogCommand::Show { collection, key: None, filter, archived, limit, json } => {
            show(ctx, &user, collection, filter, archived, limit, json)
        }
        CatalogCommand::ImportPlaylist { files, dry_run, accept_shrink, json } => {
            crate::playlist_import::run(&mut open(ctx)?, &files, dry_run, accept_shrink, json)
        }
        CatalogCommand::Export { collection, playlist, csv: _, format: Some(format), out, force, json } => {
            let (collection, playlist) = match playlist {
                Some(p) => (Some(collection), p),
                None => (None, collection),
            };
            let opts = crate::playlist_export::ExportTo { format, out, force, json };
            crate::playlist_export::export(&open(ctx)?, &user, collection.as_deref(), &playlist, &opts)
        }
        CatalogCommand::Export { collection, playlist, csv, .. } => {
            if let Some(p) = playlist {
                bail!(
                    "export {collection} {p}: a playlist is exported with --format m3u|rekordbox; a whole collection with --csv"
                );
            }
            export(ctx, &user, collection, csv)
        }
        CatalogCommand::Import { collection, file, key, dry_run, json } => {
            import(ctx, &user, collection, file, key, dry_run, json)
        }
        CatalogCommand::Link { collection, key, property, target_key } => {
            let made = open(ctx)?.link(
                &user,
                &collection,
                &key,
                &property,
                &target_key,
                None,
                Some(baton_catalog::MatchMethod::Manual),
            )?;
            say!(
                "{collection}/{key} {property} → {target_key}: {}",
                if made { "linked (manual)" } else { "already linked" }
            );
            Ok(0)
        }
        CatalogCommand::Links { collection, key, property, json } => links(ctx, &user, collection, key, property, json),
        CatalogCommand::Unlink { collection, key, property, target_key } => {
            let gone = open(ctx)?.unlink(&user, &collection, &key, &property, &target_key)?;
            say!("{collection}/{key} {property} → {target_key}: {}", if gone { "unlinked" } else { "was not linked" });
            Ok(0)
        }
        CatalogCommand::Property(PropertyCommand::Rename { collection, property, new_name }) => {
            open(ctx)?.rename_property(&user, &collection, &property, &new_name)?;
            say!("{collection}.{property} is now shown as `{new_name}` (id and values unchanged)");
            Ok(0)
        }
        CatalogCommand::Property(PropertyCommand::Remove { collection, property }) => {
            open(ctx)?.remove_property(&user, &collection, &property)?;
            say!(
                "{collection}.{property} removed; its values are archived (`baton catalog show {collection} --archived`)"
            );
            Ok(0)
        }
        CatalogCommand::Match { query, duration, isrc, json } => find_match(ctx, &user, query, duration, isrc, json),
        CatalogCommand::History { collection, key, json } => {
            let h = open(ctx)?.history(&user, &collection, &key)?;
            if json {
                say!("{}", serde_json::to_string_pretty(&h)?);
            } else {
                if h.is_empty() {
                    eprintln!("{collection}/{key}: no changes recorded");
                }
                for c in &h {
                    say!("#{}  {}  {}  by {}  {}", c.seq, c.at, c.op, c.actor, c.detail);
                }
            }
            Ok(0)
        }
    }
}

/// `catalog collections`: the collections, their owners, record counts and properties.
fn collections(ctx: &baton_cli::Ctx, user: &Access, json: bool) -> anyhow::Result<i32> {
    let cols = open(ctx)?.collections(user)?;
    if json {
        say!("{}", serde_json::to_string_pretty(&cols)?);
    } else {
        for c in &cols {
            let props: Vec<String> = c
                .properties
                .iter()
                .filter(|p| !p.archived)
                .map(|p| format!("{} ({})", p.id, p.kind.as_str()))
                .collect();
            let ro = if c.read_only { ", read-only" } else { "" };
            say!("{}  {} records  owner {}{}\n  {}", c.name, c.records, c.owner, ro, props.join(", "));
        }
    }
    Ok(0)
}

/// `catalog show`: a collection's records, filtered.
fn show(
    ctx: &baton_cli::Ctx,
    user: &Access,
    collection: String,
    filter: Option<String>,
    archived: bool,
    limit: usize,
    json: bool,
) -> anyhow::Result<i32> {
    let f = match &filter {
        Some(e) => Filter::parse(e).map_err(|m| anyhow::anyhow!("--where {e}: {m}"))?,
        None => Filter::default(),
    };
    let cat = open(ctx)?;
    let page = cat.query(user, &collection, &f, archived, None, limit)?;
    if json {
        say!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"collection": collection, "records": page.records, "next": page.next})
            )?
        );
    } else {
        let schema = cat.schema(user, &collection)?;
        for r in &page.records {
            let mut parts = Vec::new();
            for p in &schema {
                let v = if p.archived { r.archived.get(&p.id) } else { r.props.get(&p.id) };
                if let Some(v) = v {
                    let tag = if p.archived { " (archived)" } else { "" };
                    parts.push(format!("{}{tag}: {}", p.name, cell(v)));
                }
            }
            say!("{}  {}", r.key, parts.join(" | "));
        }
        if let Some(n) = page.next {
            eprintln!("(more records after `{n}`; raise --limit)");
        }
    }
    Ok(0)
}

/// `catalog export --csv`: a collection as the CSV sheet.
fn export(ctx: &baton_cli::Ctx, user: &Access, collection: String, csv: bool) -> anyhow::Result<i32> {
    if !csv {
        bail!(
            "export {collection}: pass --csv (the only export format): `baton catalog export {collection} --csv > {collection}.csv`"
        );
    }
    let cat = open(ctx)?;
    let schema: Vec<Property> = cat.schema(user, &collection)?.into_iter().filter(|p| !p.archived).collect();
    // One encoder (baton-sheet) for this and the drive-sync plugin: the same bytes.
    let columns: Vec<String> = schema.iter().map(|p| p.name.clone()).collect();
    let mut w = baton_sheet::SheetWriter::new(std::io::stdout().lock(), &columns)?;
    let mut after: Option<String> = None;
    loop {
        let page = cat.query(user, &collection, &Filter::default(), false, after.as_deref(), 1000)?;
        for r in &page.records {
            let row: Vec<String> = schema.iter().map(|p| r.props.get(&p.id).map(cell).unwrap_or_default()).collect();
            w.row(&r.key, &row)?;
        }
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    w.finish().map(drop).map_err(|e| anyhow::anyhow!("export {collection}: {e}"))?;
    Ok(0)
}

/// `catalog import`: a CSV sheet into a collection (a dry run first when asked).
fn import(
    ctx: &baton_cli::Ctx,
    user: &Access,
    collection: String,
    file: PathBuf,
    key: Option<String>,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<i32> {
    let _span =
        tracing::info_span!("catalog.import", collection = %collection, file = %file.display(), dry_run).entered();
    let mut cat = open(ctx)?;
    let schema = cat.schema(user, &collection)?;
    let records = read_csv(&file, &collection, &schema, key.as_deref())?;
    let report =
        if dry_run { cat.upsert_dry_run(user, &collection, &records) } else { cat.upsert(user, &collection, &records) }
            .with_context(|| format!("{}: nothing was written; fix the row and import again", file.display()))?;
    if json {
        say!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "collection": collection, "file": file, "dry_run": dry_run,
                "inserted": report.inserted, "updated": report.updated, "unchanged": report.unchanged,
            }))?
        );
    } else {
        let verb = if dry_run { "would be " } else { "" };
        say!(
            "{collection}: {} {verb}inserted, {} {verb}updated, {} unchanged{}",
            report.inserted,
            report.updated,
            report.unchanged,
            if dry_run { " (dry run: nothing written)" } else { "" }
        );
    }
    Ok(0)
}

/// `catalog links`: a record's links under one property.
fn links(
    ctx: &baton_cli::Ctx,
    user: &Access,
    collection: String,
    key: String,
    property: String,
    json: bool,
) -> anyhow::Result<i32> {
    let links = open(ctx)?.links(user, &collection, &key, &property)?;
    if json {
        say!("{}", serde_json::to_string_pretty(&links)?);
    } else {
        if links.is_empty() {
            eprintln!("{collection}/{key} {property}: no links");
        }
        for l in &links {
            say!(
                "{}  {}  added {}  {}",
                l.position,
                l.key,
                l.added_at.as_deref().unwrap_or("-"),
                l.method.as_deref().unwrap_or("data link")
            );
        }
    }
    Ok(0)
}

/// `catalog match`: the tracks a query names, with how sure the match is.
fn find_match(
    ctx: &baton_cli::Ctx,
    user: &Access,
    query: String,
    duration: Option<f64>,
    isrc: Option<String>,
    json: bool,
) -> anyhow::Result<i32> {
    let (artists, title) = match query.split_once(" - ") {
        Some((a, t)) => (vec![a.trim().to_string()], t.trim().to_string()),
        None => (Vec::new(), query.trim().to_string()),
    };
    if title.is_empty() {
        bail!("match: empty title; write the query as \"Artist - Title\"");
    }
    let isrc = isrc.and_then(|raw| {
        let n = normalize_isrc(&raw);
        if n.is_none() {
            eprintln!("warning: ignoring malformed ISRC `{raw}` (expected 12 characters like USRC17607839)");
        }
        n
    });
    let duration_ms = match duration {
        Some(s) if !(s.is_finite() && s >= 0.0) => bail!("--duration {s}: expected a number of seconds ≥ 0"),
        Some(s) => Some((s * 1000.0).round() as i64),
        None => None,
    };
    let q = TrackQuery { title, artists, duration_ms, isrc, ..TrackQuery::default() };
    let mut outcome = open(ctx)?.match_track(user, &q)?;
    // A lookup by title and artist without a duration: the matcher is never certain of names
    // alone (its rule is for merging records), but exactly one candidate with the query's own
    // names is the answer (`title+artist`); several stay ambiguous.
    let mut lookup = None;
    if q.duration_ms.is_none() && q.isrc.is_none() && outcome.verdict != Verdict::Match {
        let same: Vec<usize> = (0..outcome.candidates.len())
            .filter(|&i| {
                let c = &outcome.candidates[i];
                baton_normalize::identity::same_names(&q.title, &q.artists, &c.title, &c.artists)
            })
            .collect();
        if let [i] = same.as_slice() {
            let c = outcome.candidates.swap_remove(*i);
            lookup = Some(serde_json::json!({"method": "title+artist", "score": c.score}));
            outcome.candidates = vec![c];
            outcome.verdict = Verdict::Match;
        }
    }
    if json {
        let mut v = serde_json::to_value(&outcome)?;
        if let Some(m) = &lookup {
            v["match"] = m.clone();
        }
        say!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let verdict = match outcome.verdict {
            Verdict::Match if lookup.is_some() => "match (title+artist)",
            Verdict::Match => "match",
            Verdict::Ambiguous => "ambiguous",
            Verdict::None => "none",
        };
        say!("{verdict}");
        for c in &outcome.candidates {
            say!(
                "  {}  {} - {}  score {:.3}  {}  ({})",
                c.key,
                c.artists.join(", "),
                c.title,
                c.score,
                c.method.as_str(),
                c.reasons.join("; ")
            );
        }
    }
    Ok(if outcome.verdict == Verdict::Match { 0 } else { 1 })
}

/// A value as one CSV cell or one display field: lists joined with `;`.
fn cell(v: &Value) -> String {
    baton_sheet::cell(v)
}

/// Reads `file` into records for `collection`. Every problem names the file, the line and the
/// column, and the fix.
fn read_csv(file: &Path, collection: &str, schema: &[Property], key: Option<&str>) -> anyhow::Result<Vec<Record>> {
    let f = std::fs::File::open(file).with_context(|| format!("{}: cannot open the CSV file", file.display()))?;
    let mut rd = csv::ReaderBuilder::new().flexible(false).from_reader(std::io::BufReader::new(f));
    let header: Vec<String> = rd
        .headers()
        .with_context(|| format!("{}: cannot read the header row (the first line names the columns)", file.display()))?
        .iter()
        .map(|h| baton_sheet::unescape(h.trim()).to_string())
        .collect();
    let key_col = match key {
        Some(k) => header.iter().position(|h| h == k),
        None => header.iter().position(|h| h == "key").or_else(|| header.iter().position(|h| h == "_key")),
    };
    let Some(key_col) = key_col else {
        bail!(
            "{}: no key column `{}` (columns: {}); name it with --key COL",
            file.display(),
            key.unwrap_or("key"),
            header.join(", ")
        );
    };
    // Column → property: by id, else by display name.
    let mut cols: Vec<Option<&Property>> = Vec::with_capacity(header.len());
    for (i, h) in header.iter().enumerate() {
        if i == key_col {
            cols.push(None);
            continue;
        }
        let live = || schema.iter().filter(|p| !p.archived);
        let Some(p) = live().find(|p| &p.id == h).or_else(|| live().find(|p| &p.name == h)) else {
            let known: Vec<&str> = live().map(|p| p.id.as_str()).collect();
            bail!(
                "{}: column `{h}` is not a property of `{collection}` (known: {}); rename the column to a property id or add the property first",
                file.display(),
                known.join(", ")
            );
        };
        if p.kind == Kind::Relation && !p.stored {
            eprintln!(
                "warning: {}: column `{h}` is the derived side of a relation; skipped (edit it from `{}`, or with `baton catalog link`)",
                file.display(),
                p.target.as_deref().unwrap_or("the other collection")
            );
            cols.push(None);
            continue;
        }
        cols.push(Some(p));
    }
    let mut records = Vec::new();
    for row in rd.records() {
        let row =
            row.with_context(|| format!("{}: malformed CSV (every row needs {} cells)", file.display(), header.len()))?;
        let line = row.position().map(|p| p.line()).unwrap_or(0);
        // Cells `export` wrote with a leading `'` (formula guard) read back without it.
        let k = baton_sheet::unescape(row.get(key_col).unwrap_or("").trim());
        if k.is_empty() {
            bail!("{}:{line}: empty key in column `{}`; every row needs a key", file.display(), header[key_col]);
        }
        let mut props = Map::new();
        for (i, raw) in row.iter().enumerate() {
            let Some(p) = cols[i] else { continue };
            let raw = baton_sheet::unescape(raw.trim());
            if raw.is_empty() {
                continue;
            }
            let v = parse_cell(p, raw).map_err(|m| {
                anyhow::anyhow!(
                    "{}:{line}: {collection}/{k}: column `{}` ({}): {m}",
                    file.display(),
                    header[i],
                    p.kind.as_str()
                )
            })?;
            props.insert(p.id.clone(), v);
        }
        records.push(Record { key: k.to_string(), props });
    }
    Ok(records)
}

/// One cell as the JSON value its property takes.
fn parse_cell(p: &Property, raw: &str) -> Result<Value, String> {
    let list = || {
        Value::Array(raw.split(';').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.into())).collect())
    };
    Ok(match p.kind {
        Kind::MultiSelect | Kind::Relation | Kind::Entries => list(),
        Kind::Number => {
            if let Ok(i) = raw.parse::<i64>() {
                Value::from(i)
            } else {
                let f: f64 = raw.parse().map_err(|_| format!("`{raw}` is not a number"))?;
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| format!("`{raw}` is not a finite number"))?
            }
        }
        Kind::Bool => match raw.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Value::Bool(true),
            "false" | "no" | "0" => Value::Bool(false),
            _ => return Err(format!("`{raw}` is not true or false")),
        },
        _ => Value::String(raw.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::resolve_collection;

    #[test]
    fn short_names_resolve_to_the_one_plugin_collection() {
        let names: Vec<String> =
            ["tracks", "djay.djay_tracks", "djay.dj_plays", "a.dup", "b.dup"].map(String::from).to_vec();
        assert_eq!(resolve_collection(&names, "tracks").unwrap(), "tracks");
        assert_eq!(resolve_collection(&names, "djay_tracks").unwrap(), "djay.djay_tracks");
        assert_eq!(resolve_collection(&names, "djay.dj_plays").unwrap(), "djay.dj_plays");
        assert_eq!(resolve_collection(&names, "nope").unwrap(), "nope");
        let err = resolve_collection(&names, "dup").unwrap_err().to_string();
        assert!(err.contains("`a.dup`") && err.contains("`b.dup`"), "{err}");
    }
}
