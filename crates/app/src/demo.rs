//! `baton demo`: builds a demo home, drops sample TASKs (one good, one for another agent, one
//! broken), serves them once and prints what came back; with the bundled music plugins, a
//! fingerprint scan of generated audio and a Spotify export run through them.
use std::path::{Path, PathBuf};

use anyhow::Result;

use baton_cli::Ctx;

/// Builds a demo home, drops sample TASKs (one good, one for another agent, one broken),
/// serves them once and prints what came back.
pub fn demo(dir: Option<PathBuf>) -> Result<i32> {
    let home = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("baton-demo-{}", std::process::id())),
    };
    // The demo drops sample handoffs and plans and serves them: never into a folder that already
    // holds something (a real home above all), where it would mix with the user's work.
    if std::fs::read_dir(&home).is_ok_and(|mut d| d.next().is_some()) {
        anyhow::bail!(
            "{} already exists and is not empty: `baton demo --dir` builds a new demo home; give it a new folder (or leave out --dir for a temporary one)",
            home.display()
        );
    }
    let state = home.join("state/baton.sqlite");
    let ctx = Ctx::new(home.clone(), state.clone(), baton_ledger::Location::Sqlite(state), &crate::HOST);
    baton_cli::init::init(&ctx)?;
    let inbox = home.join("handoffs/baton/01_inbox");
    let now = baton_handoff::stamp::now();
    let stamp = baton_handoff::stamp::file_stamp(now);
    let created = baton_handoff::stamp::rfc3339(now);
    let samples = [
        (
            format!("{stamp}__TASK__Echo-Hello__Claude-Code-Agent.json"),
            serde_json::json!({"schema": "baton.handoff/v1", "id": baton_handoff::build::new_id(), "kind": "task", "created_at": created,
                "from": "Claude-Code-Agent", "title": "Echo hello", "plugin": "echo", "action": "echo",
                "params": {"message": "hello from the demo"}})
            .to_string(),
        ),
        (
            format!("{stamp}__TASK__Review-PR-42__Claude-Code-Agent.json"),
            serde_json::json!({"schema": "baton.handoff/v1", "id": baton_handoff::build::new_id(), "kind": "task", "created_at": created,
                "from": "Claude-Code-Agent", "to": "Cursor-Agent", "title": "Review PR 42"})
            .to_string(),
        ),
        (format!("{stamp}__TASK__Broken__Codex-Agent.json"), "{\"schema\": \"baton.handoff/v1\", \"id\": ".to_string()),
    ];
    for (name, body) in &samples {
        std::fs::write(inbox.join(name), body)?;
        println!("dropped  handoffs/baton/01_inbox/{name}");
    }
    // A plan for the automatic audit: one file done, one a stub ticked off as done, one missing.
    let plans = home.join("plans/demo-app");
    baton_fs::ensure_dir(&plans.join("src"))?;
    std::fs::write(
        plans.join("DEMO_PLAN.md"),
        "# Demo app plan\n\n| Component | Files | Status |\n|---|---|---|\n\
         | Core | `src/app.py` | ✅ Complete |\n| Worker | `src/worker.py` | ✅ Complete |\n\
         | Monitoring | `src/alerts.py` | pending |\n",
    )?;
    std::fs::write(
        plans.join("src/app.py"),
        "def main():\n    print(\"hello\")\n\n\nif __name__ == \"__main__\":\n    main()\n",
    )?;
    std::fs::write(plans.join("src/worker.py"), "def work():\n    raise NotImplementedError\n")?;
    println!("planned  plans/demo-app/DEMO_PLAN.md (3 deliverables)");
    // The broken one must settle before it is rejected; keep the demo snappy.
    let toml = home.join("baton.toml");
    let text = std::fs::read_to_string(&toml)?.replace("settle_ms = 1000", "settle_ms = 200");
    std::fs::write(&toml, text)?;
    spotify_files(&home)?;
    crate::serve::serve(&ctx, true, None, false)?;
    println!();
    show_tree(&home.join("handoffs"), &home)?;
    for agent in ["Claude-Code-Agent", "Codex-Agent"] {
        let dir = home.join("handoffs").join(agent).join("01_inbox");
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(e.path())?)?;
            println!(
                "\nRETURN for {agent}: status={} summary={:?}\n{}",
                v["status"].as_str().unwrap_or("?"),
                v["summary"].as_str().unwrap_or(""),
                serde_json::to_string_pretty(&v["result"])?
            );
        }
    }
    for e in std::fs::read_dir(home.join("reports"))?.flatten() {
        if e.path().extension().is_some_and(|x| x == "md") {
            println!("\naudit report {}:", e.path().strip_prefix(&home).unwrap_or(&e.path()).display());
            let text = std::fs::read_to_string(e.path())?;
            for line in text.lines().take(40) {
                println!("  {line}");
            }
        }
    }
    spotify_demo(&ctx)?;
    println!("\nThe demo home is {}; try `baton status --home {}`", home.display(), home.display());
    Ok(0)
}

/// The Spotify part of the demo: a small Exportify export, and a music folder of WAV files
/// made here (no ffmpeg), named `Artist - Title.wav` as a downloader names them.
const DEMO_EXPORT: &str = "\u{feff}Track URI,Track Name,Album Name,Artist Name(s),Release Date,Duration (ms),Popularity,Explicit,Added By,Added At
spotify:track:0DemoAAAAAAAAAAAAAAAAA,Alpha Song,Demo Album,Ann Artist,2020-01-01,8000,40,false,spotify:user:demo,2021-01-10T10:00:00Z
spotify:track:0DemoBBBBBBBBBBBBBBBBB,Beta Song,Demo Album,Bob Band;Cee Crew,2020-01-01,8000,40,false,spotify:user:demo,2021-02-10T10:00:00Z
spotify:track:0DemoCCCCCCCCCCCCCCCCC,Gamma Song,Other Album,Dee Dee,2020-01-01,8000,40,false,spotify:user:demo,2021-03-10T10:00:00Z
";
const DEMO_LIKED: &str = "Track URI,Track Name,Album Name,Artist Name(s),Release Date,Duration (ms),Popularity,Explicit,Added By,Added At
spotify:track:0DemoAAAAAAAAAAAAAAAAA,Alpha Song,Demo Album,Ann Artist,2020-01-01,8000,40,false,spotify:user:demo,2020-06-01T10:00:00Z
spotify:track:0DemoDDDDDDDDDDDDDDDDD,Delta Song,Liked Album,Eve,2020-01-01,8000,40,false,spotify:user:demo,2021-04-01T10:00:00Z
";

fn spotify_files(home: &Path) -> Result<()> {
    let spot = home.join("spotify");
    let inbox = home.join("music/inbox");
    baton_fs::ensure_dir(&spot)?;
    baton_fs::ensure_dir(&inbox)?;
    baton_fs::ensure_dir(&home.join("music-playlists"))?;
    std::fs::write(spot.join("Road_Trip.csv"), DEMO_EXPORT)?;
    std::fs::write(spot.join("Liked_Songs.csv"), DEMO_LIKED)?;
    for (i, name) in ["Ann Artist - Alpha Song", "Bob Band - Beta Song", "Eve - Delta Song", "Nobody - Unknown Tune"]
        .iter()
        .enumerate()
    {
        std::fs::write(inbox.join(format!("{name}.wav")), demo_wav(i as u32, 8.0))?;
    }
    let toml = home.join("baton.toml");
    let mut text = std::fs::read_to_string(&toml)?;
    if !text.lines().any(|l| l.trim() == "[plugins.spotify]") {
        text.push_str(
            "\n# The demo's Spotify export and music folder.\n[plugins.spotify]\n\
             grants = { spotify = \"spotify\", music = { path = \"music\", writable = true }, playlists = { path = \"music-playlists\", writable = true } }\n\
             catalog = { read = [\"files\"], write = [\"tracks\", \"artists\", \"playlists\"] }\n",
        );
        std::fs::write(&toml, text)?;
    }
    println!("exported spotify/Road_Trip.csv, spotify/Liked_Songs.csv; music/inbox/ (4 WAV files)");
    Ok(())
}

/// 16-bit mono PCM WAV: a short tune per seed (different seeds, different recordings).
fn demo_wav(seed: u32, seconds: f64) -> Vec<u8> {
    let rate = 22050u32;
    let n = (seconds * rate as f64) as usize;
    let notes = [0, 2, 4, 5, 7, 9, 11, 12];
    let mut data = Vec::with_capacity(n * 2);
    for k in 0..n {
        let t = k as f64 / rate as f64;
        let step = (t / 0.25) as usize;
        let deg = notes[(step * (seed as usize + 3) + seed as usize * 5) % notes.len()];
        let f = 220.0 * 2f64.powf(deg as f64 / 12.0);
        let env = 1.0 - (t % 0.25) / 0.25;
        let v = (env * 0.4 * (std::f64::consts::TAU * f * t).sin() * 32767.0) as i16;
        data.extend_from_slice(&v.to_le_bytes());
    }
    let mut b = Vec::with_capacity(44 + data.len());
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&data);
    b
}

/// Scans the demo's music folder, then runs the spotify plugin's import, link-local,
/// playlists-for-track and plan, one TASK at a time, and prints each RETURN.
fn spotify_demo(ctx: &Ctx) -> Result<()> {
    let home = &ctx.home;
    println!("\n== Spotify: the export merged, the local files linked and planned ==");
    baton_music_cli::fp::run(
        baton_music_cli::fp::FpCommand::Scan {
            dirs: vec![home.join("music")],
            threads: 1,
            retry_errors: false,
            deep: false,
            json: false,
        },
        ctx,
    )?;
    let inbox = home.join("handoffs/baton/01_inbox");
    let steps = [
        ("import", serde_json::json!({})),
        ("link-local", serde_json::json!({})),
        (
            "playlists-for-track",
            serde_json::json!({"title": "Alpha Song", "artist": "Ann Artist", "duration_ms": 8000}),
        ),
        ("plan", serde_json::json!({})),
    ];
    let replies = home.join("handoffs/Spotify-Demo/01_inbox");
    for (action, params) in steps {
        let now = baton_handoff::stamp::now();
        let id = baton_handoff::build::new_id();
        let name = format!("{}__TASK__Spotify-{action}__Spotify-Demo.json", baton_handoff::stamp::file_stamp(now));
        let body = serde_json::json!({"schema": "baton.handoff/v1", "id": id, "kind": "task",
            "created_at": baton_handoff::stamp::rfc3339(now), "from": "Spotify-Demo", "title": format!("spotify {action}"),
            "plugin": "spotify", "action": action, "params": params});
        std::fs::write(inbox.join(&name), body.to_string())?;
        crate::serve::serve(ctx, true, None, false)?;
        for e in std::fs::read_dir(&replies).into_iter().flatten().flatten() {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(e.path())?)?;
            if v["in_reply_to"] == id.as_str() {
                println!(
                    "\nspotify {action} {params}: status={} summary={:?}\n{}",
                    v["status"].as_str().unwrap_or("?"),
                    v["summary"].as_str().unwrap_or(""),
                    serde_json::to_string_pretty(&v["result"])?
                );
            }
        }
    }
    Ok(())
}

fn show_tree(root: &Path, home: &Path) -> Result<()> {
    let mut files = Vec::new();
    collect(root, &mut files)?;
    files.sort();
    for f in files {
        println!("  {}", f.strip_prefix(home).unwrap_or(&f).display());
    }
    Ok(())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir)?.flatten() {
        let p = e.path();
        let hidden = e.file_name().to_string_lossy().starts_with('.');
        if hidden {
            continue;
        }
        if p.is_dir() {
            collect(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}
