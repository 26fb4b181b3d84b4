//! Escapes through grants and plugin loading, tried through the real `baton` binary: grants held open since load (a folder
//! swapped for a symlink into the home's `state/` is never followed), grant layouts that let a
//! plugin redirect a grant refused at load with both paths named, and a running host that loads
//! only components `baton plugin install` put in place. The hostile component is
//! `plugins/testkit` (its `read` action reads whatever path it is given). Item 8, compiles:
//! compile bombs generated here (`compile_bomb`) are refused within `[plugins] compile_mb` /
//! `compile_s` at install and at load, and never hold up another plugin's task in `serve`.
//!
//! Host work a plugin triggers (items 4, 6 and 7; attacks in `plugins/testkit/src/hostile_v05.rs`):
//! a snapshot sort charged to the task's own SQLite budget, catalog calls that read no more
//! than their cap to answer, track queries bounded before any work, and the change log
//! charged to the catalog quota.
use std::collections::HashMap;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support;
use support::Home;

fn home(toml: &str) -> Home {
    let h = Home::init(&[("pause_after", "100"), ("max_attempts", "1")], toml);
    for d in ["data", "out"] {
        std::fs::create_dir_all(h.root.join(d)).unwrap();
    }
    std::fs::write(h.root.join("data/x"), "granted").unwrap();
    let src = h.root.parent().unwrap().join("testkit-under-test.wasm");
    std::fs::write(&src, baton_bundle::get("testkit").expect("testkit is bundled").wasm).unwrap();
    h.ok(&["plugin", "install", src.to_str().unwrap(), "--json", "--yes"]);
    h
}

fn drop_task(h: &Home, id: &str, plugin: &str, action: &str, params: Value) {
    let body = json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                      "from": "Tester-Agent", "title": format!("{plugin} {action} {id}"), "plugin": plugin,
                      "action": action, "params": params});
    h.drop_file(format!("20260118T070951Z__TASK__{id}__Tester-Agent.json"), body.to_string());
}

fn returns(h: &Home) -> HashMap<String, Value> {
    h.returns("Tester-Agent").into_iter().map(|(id, mut v)| (id, v.remove(0))).collect()
}

fn wait_for(h: &Home, id: &str) -> Value {
    let start = Instant::now();
    loop {
        if let Some(r) = returns(h).remove(id) {
            return r;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no RETURN for {id}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running `baton serve`, killed when dropped.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(h: &Home) -> Served {
    Served(h.cmd(&["serve"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap())
}

/// The grant is opened once, at load: a folder replaced by a symlink to the home's `state/`
/// while the host runs is never followed; the task fails `grant_changed` naming the path, and
/// nothing of the state database reaches the plugin. Made again as a real folder at the same
/// place, it is re-opened and used.
#[test]
fn a_grant_swapped_for_a_symlink_while_serving_is_never_followed() {
    let h = home("\n[plugins.testkit]\ngrants = { data = \"data\" }\ntime_ms = 10000\n");
    let _s = serve(&h);
    drop_task(&h, "BEFORE", "testkit", "read", json!({"path": "/data/x"}));
    let r = wait_for(&h, "BEFORE");
    assert_eq!(r["result"]["text"], "granted", "{r}");

    let data = h.root.join("data");
    std::fs::rename(&data, h.root.join("data-old")).unwrap();
    std::os::unix::fs::symlink(h.root.join("state"), &data).unwrap();
    drop_task(&h, "SWAPPED", "testkit", "read", json!({"path": "/data/baton.sqlite"}));
    let r = wait_for(&h, "SWAPPED");
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(r["error"]["code"], "grant_changed", "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains(&data.display().to_string()), "{r}");
    assert!(r.get("result").is_none_or(|v| v.get("len").is_none()), "nothing was read: {r}");

    // Made again as a real folder where it was: re-opened after the same checks.
    std::fs::remove_file(&data).unwrap();
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("x"), "made again").unwrap();
    drop_task(&h, "AGAIN", "testkit", "read", json!({"path": "/data/x"}));
    assert_eq!(wait_for(&h, "AGAIN")["result"]["text"], "made again");

    // Gone: the plugin stays loaded, its task fails `grant_missing`.
    std::fs::rename(&data, h.root.join("data-gone")).unwrap();
    drop_task(&h, "GONE", "testkit", "ok", json!({}));
    let r = wait_for(&h, "GONE");
    assert_eq!(r["error"]["code"], "grant_missing", "{r}");
}

/// Grant layouts through which a plugin could redirect a grant are refused at load, with a
/// message naming both paths; tasks are answered, never run.
#[test]
fn grant_layouts_that_allow_a_redirect_are_refused_naming_both_paths() {
    let h = home("\n[plugins.testkit]\ngrants = { data = \"data\" }\n");
    let toml = h.root.join("baton.toml");
    let base =
        std::fs::read_to_string(&toml).unwrap().replace("\n[plugins.testkit]\ngrants = { data = \"data\" }\n", "");
    std::fs::create_dir_all(h.root.join("out/inner")).unwrap();
    std::fs::create_dir_all(h.root.join("elsewhere")).unwrap();
    // `data` reached through a symlink into another plugin's writable grant.
    std::os::unix::fs::symlink(h.root.join("out"), h.root.join("elsewhere/link")).unwrap();
    let echo_writes_out = "\n[plugins.echo]\ngrants = { w = { path = \"out\", writable = true } }";
    let cases = [
        (
            "NESTED",
            "grants = { out = { path = \"out\", writable = true }, data = \"out/inner\" }".to_string(),
            ["out/inner", "out"],
        ),
        (
            "OTHERS",
            format!("grants = {{ data = \"elsewhere/link/inner\" }}{echo_writes_out}"),
            ["elsewhere/link/inner", "out"],
        ),
    ];
    for (id, grants, named) in cases {
        std::fs::write(&toml, format!("{base}\n[plugins.testkit]\n{grants}\n")).unwrap();
        drop_task(&h, id, "testkit", "read", json!({"path": "/data/baton.sqlite"}));
        h.ok(&["serve", "--once"]);
        let r = returns(&h).remove(id).unwrap_or_else(|| panic!("no RETURN for {id}"));
        assert_ne!(r["status"], "completed", "{r}");
        assert_eq!(r["error"]["code"], "unknown_plugin", "{r}");
        let status = h.json(&["status", "--json"]);
        let why = status["refused_plugins"][0]["reason"].to_string();
        for p in named {
            assert!(why.contains(&h.root.join(p).display().to_string()), "{id}: {p} not named in {status}");
        }
    }
    // Read-only nesting stays allowed.
    std::fs::write(&toml, format!("{base}\n[plugins.testkit]\ngrants = {{ repos = \"out\", data = \"out/inner\" }}\n"))
        .unwrap();
    std::fs::write(h.root.join("out/inner/x"), "nested").unwrap();
    drop_task(&h, "RONEST", "testkit", "read", json!({"path": "/data/x"}));
    h.ok(&["serve", "--once"]);
    assert_eq!(returns(&h)["RONEST"]["result"]["text"], "nested");
}

/// A running host loads only what `baton plugin install` recorded, at the recorded identity:
/// bytes written into plugins/ (as through an escaped grant), even the bytes of an installed
/// version copied back, are refused, and the installed version keeps running.
#[test]
fn hot_reload_adopts_nothing_that_install_did_not_put_in_place() {
    let h = home("\n[plugins.testkit]\ngrants = { data = \"data\" }\ntime_ms = 10000\n");
    let plugins = h.root.join("plugins");
    let installed = std::fs::read(plugins.join("testkit.wasm")).unwrap();
    let _s = serve(&h);
    drop_task(&h, "FIRST", "testkit", "ok", json!({}));
    let sha = wait_for(&h, "FIRST")["plugin"]["sha256"].clone();

    // Another component claiming to be testkit (patched version string), written in place.
    let mut evil = installed.clone();
    let at = evil.windows(5).position(|w| w == b"0.1.0").expect("version string");
    evil[at..at + 5].copy_from_slice(b"9.9.9");
    let tmp = plugins.join(".evil.tmp");
    std::fs::write(&tmp, &evil).unwrap();
    std::fs::rename(&tmp, plugins.join("testkit.wasm")).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    drop_task(&h, "AFTER", "testkit", "ok", json!({}));
    let r = wait_for(&h, "AFTER");
    assert_eq!(r["plugin"]["version"], "0.1.0", "the written component was not loaded: {r}");
    assert_eq!(r["plugin"]["sha256"], sha);

    // A real upgrade, by install, is loaded; the older installed bytes copied back afterwards
    // (recorded bytes, but not the file install put there: a downgrade) are refused.
    let mut newer = installed.clone();
    newer[at..at + 5].copy_from_slice(b"0.1.1");
    let src = h.root.parent().unwrap().join("testkit-newer.wasm");
    std::fs::write(&src, &newer).unwrap();
    h.ok(&["plugin", "install", src.to_str().unwrap(), "--json", "--yes", "--force"]);
    let start = Instant::now();
    let mut n = 0;
    loop {
        n += 1;
        let id = format!("UP{n}");
        drop_task(&h, &id, "testkit", "ok", json!({}));
        if wait_for(&h, &id)["plugin"]["version"] == "0.1.1" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "the installed upgrade was never loaded");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::write(&tmp, &installed).unwrap();
    std::fs::rename(&tmp, plugins.join("testkit.wasm")).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    drop_task(&h, "COPIED", "testkit", "ok", json!({}));
    assert_eq!(wait_for(&h, "COPIED")["plugin"]["version"], "0.1.1", "the copied-back 0.1.0 was not loaded");
    let journal = std::fs::read_to_string(plugins.join(".journal.jsonl")).unwrap();
    assert!(!journal.contains("\"adopted\"") && !journal.contains("\"reloaded\""), "{journal}");
    let status = h.json(&["status", "--json"]);
    assert!(status["refused_plugins"].to_string().contains("baton plugin install"), "{status}");
}

/// testkit with another name in its `describe()`: the bytes after `@@testkit-name@@`.
fn testkit_named(name: &str) -> Vec<u8> {
    let mut bytes = baton_bundle::get("testkit").expect("testkit is bundled").wasm.to_vec();
    let marker = b"@@testkit-name@@";
    let at = bytes.windows(marker.len()).position(|w| w == marker).expect("the name slot");
    let slot = &mut bytes[at + marker.len()..at + marker.len() + 32];
    slot.fill(0);
    slot[..name.len()].copy_from_slice(name.as_bytes());
    bytes
}

/// A plugin named as one of the catalog's owners (`core` owns every core property, `user` the
/// person's writes) would own what they own: refused at install, and a component dropped in
/// under such a file name is never loaded.
#[test]
fn the_catalogs_owner_names_are_never_plugin_names() {
    let h = home("");
    for name in ["core", "user", "Core"] {
        let src = h.root.parent().unwrap().join(format!("{name}-plugin.wasm"));
        std::fs::write(&src, testkit_named(name)).unwrap();
        let out = h.run(&["plugin", "install", src.to_str().unwrap(), "--json", "--yes"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("reserved") && err.contains(name), "{name}: {err}");
        assert!(!h.root.join(format!("plugins/{name}.wasm")).exists());
    }
    std::fs::write(h.root.join("plugins/core.wasm"), testkit_named("core")).unwrap();
    drop_task(&h, "CORE", "core", "ok", json!({}));
    h.ok(&["serve", "--once"]);
    let r = returns(&h).remove("CORE").expect("a RETURN");
    assert_eq!(r["error"]["code"], "unknown_plugin", "{r}");
}

/// Runs one TASK with `baton run` and gives its RETURN.
fn run_task(h: &Home, id: &str, plugin: &str, action: &str, params: Value) -> Value {
    let body = json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                      "from": "Tester-Agent", "title": "catalog", "plugin": plugin, "action": action, "params": params});
    let file = h.root.parent().unwrap().join(format!("20260118T070951Z__TASK__{id}__Tester-Agent.json"));
    std::fs::write(&file, body.to_string()).unwrap();
    let out = h.run(&["run", file.to_str().unwrap()]);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("baton run: {e}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// A relation's `inverse` adds a property to its target collection: it is checked as one.
/// Never in a collection the plugin may not write, never under another owner's id or an id
/// holding `..`, U+202E or NUL, never over an existing property.
#[test]
fn a_relations_inverse_is_checked_as_a_property_of_its_target() {
    let h = home(
        "\n[plugins.testkit]\ngrants = { data = \"data\" }\ncatalog = { read = [\"artists\"], write = [\"tracks\"] }\n",
    );
    let ensure = |inverse: &str, target: &str| {
        json!({"op": "ensure", "collection": "testkit.mine", "properties": [
            {"id": "testkit.rel", "kind": "relation", "target": target, "inverse": inverse}]})
    };
    let r = run_task(
        &h,
        "INV",
        "testkit",
        "catalog",
        json!({"calls": [
            ensure("testkit.back", "artists"),
            ensure("testkit..\u{202e}x", "tracks"),
            ensure("testkit.a\u{0}b", "tracks"),
            ensure("djay.back", "tracks"),
            ensure("title", "tracks"),
            ensure("testkit.back", "tracks"),
        ]}),
    );
    assert_eq!(r["status"], "completed", "{r}");
    let results = r["result"]["results"].as_array().unwrap();
    for (i, what) in
        ["an ungranted target", "`..` and U+202E", "NUL", "another owner's id", "a core property"].iter().enumerate()
    {
        assert!(results[i].get("error").is_some(), "{what}: {}", results[i]);
    }
    assert_eq!(results[5]["ok"], json!(true), "its own inverse on a collection it writes: {}", results[5]);
    // Nothing was added where it may not write.
    let props = h.json(&["catalog", "collections", "--json"]).to_string();
    assert!(!props.contains("\u{202e}"), "{props}");
}

/// Upserts and links that name keys of a collection the plugin may not read are refused as a
/// read before any lookup: the answer is the same whether the key (or the collection) exists,
/// so no call is an oracle of keys or collection names.
#[test]
fn links_into_an_unreadable_collection_answer_the_same_for_every_key() {
    let h = home("\n[plugins.testkit]\ngrants = { data = \"data\" }\ncatalog = { write = [\"tracks\"] }\n");
    let csv = h.root.parent().unwrap().join("artists.csv");
    std::fs::write(&csv, "key,name\nsecret-artist,Secret\n").unwrap();
    h.ok(&["catalog", "import", "artists", csv.to_str().unwrap()]);
    let link = |key: &str| json!({"op": "link", "collection": "testkit.mine", "key": "k", "property": "testkit.rel", "target": key});
    let upsert = |key: &str| json!({"op": "upsert", "collection": "testkit.mine", "records": [{"key": "k", "props": {"testkit.rel": [key]}}]});
    let r = run_task(
        &h,
        "ORACLE",
        "testkit",
        "catalog",
        json!({"calls": [
            {"op": "ensure", "collection": "testkit.mine", "properties": [{"id": "testkit.rel", "kind": "relation", "target": "artists"}]},
            {"op": "upsert", "collection": "testkit.mine", "records": [{"key": "k", "props": {}}]},
            link("secret-artist"), link("no-such-artist"), upsert("secret-artist"), upsert("no-such-artist"),
        ]}),
    );
    assert_eq!(r["status"], "completed", "{r}");
    let res = r["result"]["results"].as_array().unwrap();
    let shape =
        |v: &Value| v["error"]["kind"].as_str().map(str::to_string).unwrap_or_else(|| format!("not an error: {v}"));
    assert_eq!(shape(&res[2]), "denied", "{}", res[2]);
    assert_eq!(res[2], res[3], "a link answers the same for a key that exists and one that does not");
    assert_eq!(shape(&res[4]), "denied", "{}", res[4]);
    assert_eq!(res[4]["error"]["kind"], res[5]["error"]["kind"]);
    assert!(
        !res[4].to_string().contains("does not exist") && !res[5].to_string().contains("does not exist"),
        "{res:?}"
    );
}

/// Memory the host keeps for a plugin counts at its real size: log lines of 4 MB, each cut to
/// the 8 KB line cap, used to keep their 4 MB allocations (128 of them in the logs' quarter of
/// a 4 MB output cap: 512 MB). The host's peak RSS stays far below that, and other tasks
/// complete.
#[test]
fn log_lines_cut_to_the_cap_keep_no_more_than_the_cut() {
    let h = home("\n[plugins.testkit]\ngrants = { data = \"data\" }\ntime_ms = 3000\noutput_kb = 4096\n");
    drop_task(&h, "LOGS", "testkit", "log-flood", json!({"bytes": 4 << 20}));
    drop_task(&h, "ECHO", "echo", "echo", json!({"still": "here"}));
    let started = Instant::now();
    let mut child = h.cmd(&["serve", "--once"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let peak = support::wait_measuring_peak_rss(&mut child, started, Duration::from_secs(60));
    let r = returns(&h);
    assert_eq!(r["ECHO"]["status"], "completed", "{:?}", r["ECHO"]);
    assert_ne!(r["LOGS"]["status"], "completed", "{:?}", r["LOGS"]);
    assert!(peak > 0 && peak < 300 << 10, "host peak RSS {} MB", peak >> 10);
}

/// A compile bomb: a valid component whose core module holds one function `(i32) -> i32`
/// with `locals` i32 locals (each set from the parameter, so nothing folds to a constant),
/// `ops` additions between pseudo-randomly chosen locals, and the sum of every local returned
/// (so all stay alive to the end). With `blocks` > 1 the additions are spread over that many
/// `if` blocks, which multiplies the SSA form's phis: a memory bomb (hundreds of MB within
/// seconds); in one block it is a time bomb (register allocation over thousands of live
/// values: seconds of CPU per 20,000 additions, little memory). It exports nothing, so it
/// would be refused after compiling; the point is what the compile costs. (Generated here, at
/// test time: a byte-level encoder is shorter than a dependency.)
fn compile_bomb(b: Bomb) -> Vec<u8> {
    let mut component = b"\0asm\x0d\0\x01\0".to_vec();
    wasm_section(1, &bomb_module(b), &mut component);
    component
}

#[derive(Clone, Copy)]
struct Bomb {
    locals: u32,
    blocks: usize,
    ops: usize,
}
/// About 10 s of CPU, under 100 MB.
const TIME_BOMB: Bomb = Bomb { locals: 2000, blocks: 1, ops: 60_000 };
/// Past 500 MB in about 3 s of CPU.
const MEMORY_BOMB: Bomb = Bomb { locals: 5000, blocks: 5000, ops: 25_000 };
/// About 6 s of CPU: long enough to see, short enough for CI.
const SLOW: Bomb = Bomb { locals: 2000, blocks: 1, ops: 40_000 };

fn leb(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn sleb(mut n: i64, out: &mut Vec<u8>) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if (n == 0 && b & 0x40 == 0) || (n == -1 && b & 0x40 != 0) {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn wasm_section(id: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb(body.len() as u64, out);
    out.extend_from_slice(body);
}

/// The core module of [`compile_bomb`].
fn bomb_module(bomb: Bomb) -> Vec<u8> {
    let Bomb { locals, blocks, ops } = bomb;
    let mut body = Vec::new();
    leb(1, &mut body);
    leb(locals as u64, &mut body);
    body.push(0x7f); // i32
    for i in 1..=locals as u64 {
        body.extend_from_slice(&[0x20, 0x00, 0x41]); // local.get 0; i32.const
        sleb(i as i64 * 7919, &mut body);
        body.extend_from_slice(&[0x73, 0x21]); // i32.xor; local.set
        leb(i, &mut body);
    }
    let mut x: u64 = 12345;
    let mut next = || {
        x = (x * 1_103_515_245 + 12345) & 0x7fff_ffff;
        1 + x % locals as u64
    };
    for _ in 0..blocks {
        if blocks > 1 {
            body.extend_from_slice(&[0x20, 0x00, 0x04, 0x40]); // local.get 0; if (no result)
        }
        for _ in 0..ops / blocks {
            let (a, b, c) = (next(), next(), next());
            body.push(0x20); // local.get
            leb(a, &mut body);
            body.push(0x20);
            leb(b, &mut body);
            body.push(0x6a); // i32.add
            body.push(0x21); // local.set
            leb(c, &mut body);
        }
        if blocks > 1 {
            body.push(0x0b); // end
        }
    }
    body.extend_from_slice(&[0x20, 0x01]);
    for i in 2..=locals as u64 {
        body.push(0x20);
        leb(i, &mut body);
        body.push(0x6a);
    }
    body.push(0x0b); // end
    let mut code = Vec::new();
    leb(1, &mut code);
    leb(body.len() as u64, &mut code);
    code.extend_from_slice(&body);
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    wasm_section(1, &[1, 0x60, 1, 0x7f, 1, 0x7f], &mut module); // one type: (i32) -> i32
    wasm_section(3, &[1, 0], &mut module);
    wasm_section(10, &code, &mut module);
    module
}

/// `baton.toml`'s `key = …` line (the first one) set to `value`.
fn set_toml(h: &Home, key: &str, value: &str) {
    let path = h.root.join("baton.toml");
    let mut toml = std::fs::read_to_string(&path).unwrap();
    let start = toml.find(&format!("\n{key} = ")).unwrap_or_else(|| panic!("no {key} in baton.toml")) + 1;
    let end = start + toml[start..].find('\n').unwrap();
    toml.replace_range(start..end, &format!("{key} = {value}"));
    std::fs::write(&path, toml).unwrap();
}

/// A compile runs in a worker process, stopped over `[plugins] compile_s`
/// (CPU) and `compile_mb` (resident memory). `baton plugin install` refuses the bomb with the
/// reason and the key to raise, within the limit, and installs nothing; the same bomb copied
/// into `plugins/` by hand is refused when `serve` loads it (recorded, shown by `status`),
/// while the other plugins' tasks are answered.
#[test]
fn a_compile_bomb_is_refused_at_install_and_at_load_within_the_compile_limits() {
    // A cache of its own: a bomb compiled into the run's shared cache (by an older baton, say)
    // would be loaded from there, never compiled.
    let h = Home::init_own_cache(&[("pause_after", "100"), ("max_attempts", "1"), ("compile_s", "2")], "");
    let src = h.root.parent().unwrap().join("bomb.wasm");
    std::fs::write(&src, compile_bomb(TIME_BOMB)).unwrap();
    let started = Instant::now();
    let out = h.run(&["plugin", "install", src.to_str().unwrap(), "--yes"]);
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "installed a compile bomb");
    assert!(
        err.contains("bomb.wasm")
            && err.contains("exceeded the compile time limit of 2 s")
            && err.contains("compile_s"),
        "{err}"
    );
    // 2 s of CPU; the wall-time cap is 3 x 2 + 5 s.
    assert!(took < Duration::from_secs(20), "refused only after {took:?}");
    assert!(!h.root.join("plugins/bomb.wasm").exists());

    set_toml(&h, "compile_s", "120");
    set_toml(&h, "compile_mb", "100");
    let memory = h.root.parent().unwrap().join("memory-bomb.wasm");
    std::fs::write(&memory, compile_bomb(MEMORY_BOMB)).unwrap();
    let started = Instant::now();
    let out = h.run(&["plugin", "install", memory.to_str().unwrap(), "--yes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "installed a compile bomb");
    assert!(err.contains("exceeded the compile memory limit of 100 MB") && err.contains("compile_mb"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30), "refused only after {:?}", started.elapsed());

    // Copied in by hand: serve refuses it at load, says why, and answers echo.
    set_toml(&h, "compile_mb", "2048");
    set_toml(&h, "compile_s", "2");
    std::fs::copy(&src, h.root.join("plugins/bomb.wasm")).unwrap();
    drop_task(&h, "ECHO", "echo", "echo", json!({"still": "here"}));
    drop_task(&h, "BOMB", "bomb", "run", json!({}));
    let started = Instant::now();
    let out = h.run(&["serve", "--once"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(30), "serve --once took {:?}", started.elapsed());
    let r = returns(&h);
    assert_eq!(r["ECHO"]["status"], "completed", "{}", r["ECHO"]);
    assert_ne!(r["BOMB"]["status"], "completed", "{}", r["BOMB"]);
    assert!(
        r["BOMB"]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("compile time limit") && m.contains("compile_s")),
        "{}",
        r["BOMB"]
    );
    let status = h.json(&["status", "--json"]);
    let refused = status["refused_plugins"].to_string();
    assert!(refused.contains("bomb.wasm") && refused.contains("compile_s"), "{status}");
}

/// A compile never stalls the serve loop. A bomb copied into `plugins/` of a
/// running `serve` used to be compiled inside the pass (an echo waited 17 s); now every compile
/// runs in a worker, in the background, within the compile limits (a new plugin copied in by
/// hand is compiled too), and is refused with the reason when it goes over them.
#[test]
fn a_compile_bomb_dropped_into_a_running_serve_does_not_delay_another_plugins_echo() {
    let h = Home::init_own_cache(&[("pause_after", "100"), ("max_attempts", "1"), ("compile_s", "2")], "");
    let _s = serve(&h);
    drop_task(&h, "BEFORE", "echo", "echo", json!({}));
    assert_eq!(wait_for(&h, "BEFORE")["status"], "completed");
    let tmp = h.root.join("plugins/.bomb.tmp");
    std::fs::write(&tmp, compile_bomb(TIME_BOMB)).unwrap();
    std::fs::rename(&tmp, h.root.join("plugins/bomb.wasm")).unwrap();
    // Let the watcher see it and a pass pick it up.
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    drop_task(&h, "DURING", "echo", "echo", json!({}));
    assert_eq!(wait_for(&h, "DURING")["status"], "completed");
    assert!(started.elapsed() < Duration::from_secs(3), "echo waited {:?} behind the bomb", started.elapsed());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = h.json(&["status", "--json"]);
        let refused = status["refused_plugins"].to_string();
        if refused.contains("bomb.wasm") {
            assert!(refused.contains("compile_s"), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "the bomb was never refused: {status}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `serve` no longer compiles at start-up before serving. A component with
/// no compiled code in the cache (here a compile bomb copied in while baton was stopped) is
/// compiled in the background: echo is answered while it compiles, the bomb's TASK waits in
/// the inbox meanwhile (not answered at once), and is answered with the load's reason once
/// the compile has ended. A kill -9 of `serve` takes its compile worker with it.
#[test]
fn serve_starts_serving_before_its_start_up_compiles_end() {
    let h = Home::init_own_cache(&[("pause_after", "100"), ("max_attempts", "1"), ("compile_s", "6")], "");
    std::fs::write(h.root.join("plugins/bomb.wasm"), compile_bomb(TIME_BOMB)).unwrap();
    drop_task(&h, "BOMB", "bomb", "run", json!({}));
    let mut s = serve(&h);
    drop_task(&h, "ECHO", "echo", "echo", json!({}));
    assert_eq!(wait_for(&h, "ECHO")["status"], "completed");
    let inbox = h.root.join("handoffs/baton/01_inbox");
    let waiting: Vec<String> =
        std::fs::read_dir(&inbox).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(
        waiting.iter().any(|n| n.contains("__BOMB__")) && !returns(&h).contains_key("BOMB"),
        "the bomb's TASK waits in the inbox while it compiles: {waiting:?}"
    );
    // Compiled (it is no plugin: no `describe`) or stopped at the compile limit: either way
    // refused at its load, and the TASK held for it says so.
    let r = wait_for_long(&h, "BOMB", Duration::from_secs(90));
    assert!(
        r["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("bomb.wasm") && m.contains("refused when baton loaded it")),
        "{r}"
    );

    // Another compile in progress, then kill -9: the worker goes with its serve.
    drop(s);
    // A longer compile (other bytes than the first bomb, whose compiled code is cached by now),
    // under a limit it does not reach before the kill.
    set_toml(&h, "compile_s", "120");
    std::fs::write(h.root.join("plugins/bomb2.wasm"), compile_bomb(Bomb { ops: 300_000, ..TIME_BOMB })).unwrap();
    s = serve(&h);
    let serve_pid = s.0.id();
    let started = Instant::now();
    let worker = loop {
        if let Some(pid) = compile_worker_of(serve_pid) {
            break pid;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no compile worker started");
        std::thread::sleep(Duration::from_millis(20));
    };
    s.0.kill().unwrap();
    let _ = s.0.wait();
    let killed = Instant::now();
    while alive(worker) {
        assert!(killed.elapsed() < Duration::from_secs(3), "the compile worker {worker} outlived its serve");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_for_long(h: &Home, id: &str, limit: Duration) -> Value {
    let start = Instant::now();
    loop {
        if let Some(r) = returns(h).remove(id) {
            return r;
        }
        assert!(start.elapsed() < limit, "no RETURN for {id} within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The pid of a `baton __compile-worker` whose parent is `parent` (from /proc).
fn compile_worker_of(parent: u32) -> Option<u32> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some(after) = stat.rsplit_once(')').map(|(_, a)| a.to_string()) else { continue };
        let ppid = after.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if ppid == Some(parent) && cmdline.windows(16).any(|w| w == b"__compile-worker") {
            return Some(pid);
        }
    }
    None
}

/// Whether `pid` runs (a zombie, or gone, does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, a)| a.trim_start().starts_with('Z')))
        .is_some_and(|zombie| !zombie)
}

/// Big components too (a Python one is about 20 MB): a component `baton plugin install`
/// recorded but that this serve has not compiled (installed with another compiled-code cache,
/// or after a wasmtime upgrade) is compiled in the background. The pass does not wait for it:
/// echo is answered while it compiles, the old version serves meanwhile, and the new one is
/// loaded when its compile ends. The slow component is testkit with one more core module
/// (never instantiated): the same plugin, a long compile.
#[test]
fn a_recorded_component_compiles_off_the_serve_loop() {
    let h = Home::init_own_cache(&[("pause_after", "100"), ("max_attempts", "1")], "");
    let src = h.root.parent().unwrap().join("testkit.wasm");
    std::fs::write(&src, baton_bundle::get("testkit").unwrap().wasm).unwrap();
    h.ok(&["plugin", "install", src.to_str().unwrap(), "--json", "--yes"]);
    let _s = serve(&h);
    drop_task(&h, "BEFORE", "testkit", "ok", json!({}));
    let old = wait_for(&h, "BEFORE")["plugin"]["sha256"].clone();
    let mut slow = baton_bundle::get("testkit").unwrap().wasm.to_vec();
    wasm_section(1, &bomb_module(SLOW), &mut slow);
    let src = h.root.parent().unwrap().join("testkit-slow.wasm");
    std::fs::write(&src, &slow).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = h
        .cmd(&["plugin", "install", src.to_str().unwrap(), "--yes", "--json"])
        .env("XDG_CACHE_HOME", elsewhere.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let new: Value = serde_json::from_slice(&out.stdout).unwrap();
    let new = new["plugin"]["sha256"].clone();
    assert_ne!(new, old);
    std::thread::sleep(Duration::from_millis(500));
    let mut n = 0;
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    loop {
        n += 1;
        let id = format!("T{n}");
        let t = Instant::now();
        drop_task(&h, &format!("E{n}"), "echo", "echo", json!({}));
        drop_task(&h, &id, "testkit", "ok", json!({}));
        let r = wait_for(&h, &id);
        slowest = slowest.max(t.elapsed());
        assert_eq!(wait_for(&h, &format!("E{n}"))["status"], "completed");
        if r["plugin"]["sha256"] == new {
            break;
        }
        assert_eq!(r["plugin"]["sha256"], old, "the old version serves while the new one compiles");
        assert!(started.elapsed() < Duration::from_secs(120), "the new version was never loaded");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(slowest < Duration::from_secs(3), "a task waited {slowest:?} behind the compile");
    assert!(n > 1, "the compile took no time: the test proves nothing");
}

/// A home as [`home`], with `settings` replacing lines of baton.toml.
fn home_with(settings: &[(&str, &str)], toml: &str) -> Home {
    let mut all = vec![("pause_after", "100"), ("max_attempts", "1")];
    all.extend_from_slice(settings);
    let h = Home::init(&all, toml);
    for d in ["data", "out"] {
        std::fs::create_dir_all(h.root.join(d)).unwrap();
    }
    let src = h.root.parent().unwrap().join("testkit-under-test.wasm");
    std::fs::write(&src, baton_bundle::get("testkit").expect("testkit is bundled").wasm).unwrap();
    h.ok(&["plugin", "install", src.to_str().unwrap(), "--json", "--yes"]);
    h
}

/// A sort of 160,000 rows of 1 KB (about 170 MB to sort) used to spill into temporary files
/// no quota counted, under a heap limit the ledger shared. Now a snapshot's sorts stay in
/// memory, charged to the task's own SQLite budget (`[sqlite] task_memory_mb`, 32 MiB here):
/// the query fails `out of memory` naming the budget, the same task's kv write right after it
/// is saved, and a second task meanwhile completes with its kv write.
#[test]
fn a_snapshot_query_over_its_tasks_sqlite_budget_fails_alone() {
    let h = home_with(&[("task_memory_mb", "32")], "\n[plugins.testkit]\ngrants = { data = \"data\" }\n");
    let db = rusqlite::Connection::open(h.root.join("data/small.db")).unwrap();
    db.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO t(name) VALUES ('a'), ('b');")
        .unwrap();
    drop(db);
    let sort = "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 160000) \
                SELECT i, randomblob(1000) AS b FROM c ORDER BY b";
    drop_task(&h, "HOG", "testkit", "sql-hog", json!({"path": "/data/small.db", "sql": sort}));
    drop_task(
        &h,
        "SMALL",
        "testkit",
        "sql-hog",
        json!({"path": "/data/small.db", "sql": "SELECT name FROM t ORDER BY name"}),
    );
    let started = Instant::now();
    h.ok(&["serve", "--once"]);
    eprintln!("two tasks in {:?}", started.elapsed());
    let r = returns(&h);
    let hog = &r["HOG"];
    assert_eq!(hog["status"], "completed", "{hog}");
    let err = hog["result"]["query"]["error"].as_str().unwrap_or_default();
    assert!(err.contains("out of memory") && err.contains("32 MiB") && err.contains("task_memory_mb"), "{hog}");
    assert_eq!(hog["result"]["kv"], "saved", "the task's kv write after the failed query: {hog}");
    let small = &r["SMALL"];
    assert_eq!(small["status"], "completed", "{small}");
    assert_eq!(small["result"]["query"]["rows"], 1, "{small}");
    assert_eq!(small["result"]["kv"], "saved", "{small}");
}

/// testkit with its own collection `testkit.fat` of `count` records of about 250 KB each
/// (the catalog's record cap is 256 KB), written `rounds` times.
fn fat_collection(h: &Home, count: u64, rounds: u64) -> Value {
    let r = run_task(
        h,
        "FAT",
        "testkit",
        "cat-fat",
        json!({"count": count, "pad_bytes": 250_000, "batch": 25, "rounds": rounds}),
    );
    assert_eq!(r["status"], "completed", "{r}");
    r["result"].clone()
}

/// A page of a filter that accepts nothing once read every record of the collection (the
/// issue: 240 MB read for an 8 MB page), and `changes-since` loaded every change only to
/// answer "over the cap". Now a call reads at most 32 MiB of rows: the page ends early with a
/// cursor the plugin resumes from, and `changes-since` answers the changes that fit one
/// answer (8 MiB) instead of failing.
#[test]
fn catalog_calls_read_no_more_than_their_cap_to_answer() {
    let h = home("\n[plugins.testkit]\ngrants = { data = \"data\" }\ntime_ms = 60000\n");
    let fat = fat_collection(&h, 200, 1);
    assert_eq!(fat["written"], 200, "{fat}");
    let scan = |cursor: Option<&str>| {
        let r =
            run_task(&h, "SCAN", "testkit", "cat-scan", json!({"filter": "testkit.pad0=nothing", "cursor": cursor}));
        assert_eq!(r["status"], "completed", "{r}");
        r["result"]["page"].clone()
    };
    let first = scan(None);
    assert_eq!(first["records"], 0, "{first}");
    let cursor = first["next"]
        .as_str()
        .unwrap_or_else(|| panic!("the page stops at the read cap with a cursor: {first}"))
        .to_string();
    // About 130 records of 250 KB fit 32 MiB: the cursor is well inside the collection, and
    // the rest is read from it.
    assert!(cursor.as_str() > "r00000050" && cursor.as_str() < "r00000199", "{cursor}");
    let second = scan(Some(&cursor));
    assert_eq!(second["records"], 0, "{second}");
    assert!(second["next"].is_null(), "the rest of the collection fits a second call: {second}");

    let r = run_task(&h, "CHANGES", "testkit", "cat-changes", json!({"since": 0}));
    let answer = &r["result"]["answer"];
    assert!(answer.get("error").is_none(), "changes-since answers what fits: {r}");
    let n = answer["changes"].as_u64().unwrap();
    assert!(n > 10 && n < 200, "some changes, not all 200 (8 MiB of 250 KB details): {answer}");
    assert!(answer["bytes"].as_u64().unwrap() <= 8 << 20, "{answer}");
}

/// `match-track` with one external id listed 12,000 times took the host from 79 MB to
/// 2.8 GB. Repeats are removed and what is left is capped (64 ids, 64 artists, 4 KB texts)
/// before any work.
#[test]
fn a_track_query_is_bounded_before_any_work() {
    let h = home("\n[plugins.testkit]\ngrants = { data = \"data\" }\ncatalog = { read = [\"tracks\"] }\n");
    let r = run_task(&h, "REPEAT", "testkit", "cat-match-repeat", json!({"count": 12_000}));
    assert_eq!(r["status"], "completed", "{r}");
    let answer = &r["result"]["answer"];
    assert!(answer.get("error").is_none(), "one id repeated is one id: {answer}");
    let ids: Vec<String> = (0..200).map(|i| format!("spotify:track:{i}")).collect();
    let r = run_task(
        &h,
        "MANY",
        "testkit",
        "catalog",
        json!({"calls": [
            {"op": "match", "query": {"title": "x", "artists": ["y"], "external_ids": ids}},
        ]}),
    );
    let res = &r["result"]["results"][0];
    assert_eq!(res["error"]["kind"], "invalid", "{r}");
    assert!(res["error"]["message"].as_str().unwrap().contains("at most 64"), "{res}");
}

/// 1,800 changes wrote 817 MB against a 16 MB quota: rewriting records of the same size
/// added nothing to the quota. Now every change-log entry is charged to the writer: with a
/// 2 MiB quota, rewriting one 250 KB record is refused `quota` after a few rounds.
#[test]
fn the_change_log_counts_against_the_catalog_quota() {
    let h = home("\n[plugins.testkit]\ngrants = { data = \"data\" }\ncatalog_quota = { bytes = 2097152 }\n");
    let r =
        run_task(&h, "FAT", "testkit", "cat-fat", json!({"count": 1, "pad_bytes": 250_000, "batch": 1, "rounds": 40}));
    assert_eq!(r["status"], "completed", "{r}");
    let written = r["result"]["written"].as_u64().unwrap();
    assert_eq!(r["result"]["error"]["error"]["kind"], "quota", "{}", r["result"]);
    assert!((3..=8).contains(&written), "2 MiB holds the record and a few changes of it, not 40: {written}");
}

/// Catalog ownership is an install's identity, not the name a plugin chose.
/// After `plugin remove`, another component installed under the same name is a new owner: the
/// collection, properties and records the removed install wrote stay out of its reach (no
/// rename, no overwrite, no read), and the install says how to hand them over. Installed with
/// `--adopt-data`, it takes them over.
#[test]
fn a_later_install_under_a_removed_plugins_name_does_not_own_its_data() {
    let h = home("\n[plugins.testkit]\ngrants = { data = \"data\" }\n");
    let r = run_task(
        &h,
        "FIRST",
        "testkit",
        "catalog",
        json!({"calls": [
            {"op": "ensure", "collection": "testkit.notes", "properties": [{"id": "testkit.text", "kind": "text"}]},
            {"op": "upsert", "collection": "testkit.notes", "records": [{"key": "n1", "props": {"testkit.text": "mine"}}]},
        ]}),
    );
    let results = r["result"]["results"].as_array().unwrap().clone();
    assert!(results.iter().all(|x| x.get("ok").is_some()), "{r}");

    h.ok(&["plugin", "remove", "testkit"]);
    let mut other = baton_bundle::get("testkit").expect("testkit is bundled").wasm.to_vec();
    let at = other.windows(5).position(|w| w == b"0.1.0").expect("version string");
    other[at..at + 5].copy_from_slice(b"0.1.1");
    let src = h.root.parent().unwrap().join("another-testkit.wasm");
    std::fs::write(&src, &other).unwrap();
    let out = h.run(&["plugin", "install", src.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--adopt-data"),
        "the install says how to hand the data over"
    );

    let attempt = json!({"calls": [
        {"op": "rename", "collection": "testkit.notes", "property": "testkit.text", "name": "Hijacked"},
        {"op": "upsert", "collection": "testkit.notes", "records": [{"key": "n1", "props": {"testkit.text": "overwritten"}}]},
        {"op": "get", "collection": "testkit.notes", "key": "n1"},
        {"op": "ensure", "collection": "testkit.more", "properties": []},
    ]});
    let r = run_task(&h, "LATER", "testkit", "catalog", attempt.clone());
    for (i, res) in r["result"]["results"].as_array().unwrap().iter().enumerate() {
        assert!(res.get("error").is_some(), "call {i} of a later install reached the earlier one's data: {res}");
    }
    let shown = h.json(&["catalog", "collections", "--json"]).to_string();
    assert!(!shown.contains("Hijacked") && !shown.contains("testkit.more"), "{shown}");

    // Handed over on purpose: the same component, installed with --adopt-data.
    h.ok(&["plugin", "remove", "testkit"]);
    h.ok(&["plugin", "install", src.to_str().unwrap(), "--adopt-data"]);
    let r = run_task(&h, "ADOPTED", "testkit", "catalog", attempt);
    let results = r["result"]["results"].as_array().unwrap().clone();
    assert!(results.iter().all(|x| x.get("ok").is_some()), "{r}");
    assert_eq!(results[2]["ok"]["props"]["testkit.text"], "overwritten", "{}", results[2]);
}
