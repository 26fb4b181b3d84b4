//! Writing plugins in Rust, Python and JavaScript, through the real `baton` binary:
//! `baton plugin new` scaffolds that build with their own `./build.sh` (componentize-py from
//! PyPI, componentize-js from npm, cargo for Rust, each installed the way a fresh machine
//! would, by the scaffold itself) and pass their own `./test.sh`; and what a plugin prints to
//! stderr, a Python traceback above all, reaches `baton show` and the RETURN of a task that traps.
//!
//! The tools come from the registries on first use (`./x setup` checks python3's venv, node
//! and npm); these tests take minutes of CPU, most of it in the componentize builds.
use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use serde_json::{Value, json};
use support::{BIN, Home};

const AGENT: &str = "Author-Agent";

fn drop_task(h: &Home, id: &str, plugin: &str, action: &str, params: Value) {
    let body = json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                      "from": AGENT, "title": format!("{plugin} {action} {id}"), "plugin": plugin,
                      "action": action, "params": params});
    h.drop_file(format!("20260118T070951Z__TASK__{id}__{AGENT}.json"), body.to_string());
}

/// The single RETURN for `id`.
fn ret(h: &Home, id: &str) -> Value {
    let all = h.returns(AGENT);
    let r = all.get(id).unwrap_or_else(|| panic!("no RETURN for {id}; have {:?}", all.keys().collect::<Vec<_>>()));
    assert_eq!(r.len(), 1, "exactly one RETURN for {id}");
    r[0].clone()
}

/// `baton plugin new NAME --lang LANG --dir DIR` with a home that does not exist: it needs none
/// and must not make one.
fn scaffold(dir: &Path, name: &str, lang: &str) {
    let no_home = dir.parent().unwrap().join("no-home-here");
    let out = Command::new(BIN)
        .args(["plugin", "new", name, "--lang", lang, "--dir"])
        .arg(dir)
        .env("BATON_HOME", &no_home)
        .env_remove("BATON_STATE")
        .output()
        .unwrap();
    assert!(out.status.success(), "plugin new --lang {lang}: {}", String::from_utf8_lossy(&out.stderr));
    assert!(!no_home.exists(), "plugin new made a home at {}", no_home.display());
    for f in ["build.sh", "test.sh", "README.md", "wit/plugin.wit"] {
        assert!(dir.join(f).is_file(), "{lang}: no {f} in {}", dir.display());
    }
}

/// Runs a scaffold's script with `$BATON` set to the binary under test; prints how long it took.
fn script(dir: &Path, name: &str, envs: &[(&str, &Path)]) -> Output {
    let started = Instant::now();
    let mut cmd = Command::new(dir.join(name));
    cmd.current_dir(dir).env("BATON", BIN).env("BATON_LOG", "warn").env_remove("BATON_HOME").env_remove("BATON_STATE");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    eprintln!("{} {name}: {:.1} s", dir.display(), started.elapsed().as_secs_f64());
    assert!(
        out.status.success(),
        "{name} in {} failed:\n--- stdout\n{}\n--- stderr\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Replaces the one occurrence of `marker` in `file` by `replacement`.
fn patch(file: &Path, marker: &str, replacement: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert_eq!(text.matches(marker).count(), 1, "{}: {marker:?} is not there exactly once", file.display());
    std::fs::write(file, text.replace(marker, replacement)).unwrap();
}

/// The component's bytes and inode: a build replaces the file (a new inode, by rename), a
/// build that runs no tool leaves it as it was.
fn component(wasm: &Path) -> (Vec<u8>, u64) {
    use std::os::unix::fs::MetadataExt;
    (std::fs::read(wasm).unwrap(), std::fs::metadata(wasm).unwrap().ino())
}

/// `./build.sh` once more: asserts whether it said `unchanged` (and left the component as it
/// was) or built it again (a new file).
fn rebuild(dir: &Path, name: &str, envs: &[(&str, &Path)], expect_unchanged: bool, why: &str) {
    let wasm = dir.join(format!("{name}.wasm"));
    let before = component(&wasm);
    let out = script(dir, "build.sh", envs);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let after = component(&wasm);
    if expect_unchanged {
        assert!(stdout.contains(&format!("unchanged {}", wasm.display())), "{why}: says unchanged: {stdout}");
        assert!(before == after, "{why}: the component is left byte for byte, in the same file");
    } else {
        assert!(!stdout.contains("unchanged") && stdout.contains("built "), "{why}: builds again: {stdout}");
        assert_ne!(before.1, after.1, "{why}: a new component was written");
    }
}

/// Sets `file`'s modification time to now, its content unchanged (as `touch` does).
fn touch(file: &Path) {
    std::fs::File::options().append(true).open(file).unwrap().set_modified(std::time::SystemTime::now()).unwrap();
}

/// A second `./build.sh` with nothing changed runs no tool; touching the source builds again,
/// and the build after that is unchanged once more.
fn builds_only_what_changed(dir: &Path, name: &str, source: &str, envs: &[(&str, &Path)]) {
    rebuild(dir, name, envs, true, "nothing changed");
    touch(&dir.join(source));
    rebuild(dir, name, envs, false, "the source touched");
    rebuild(dir, name, envs, true, "nothing changed since");
}

fn install(h: &Home, wasm: &Path) {
    h.ok(&["plugin", "install", wasm.to_str().unwrap()]);
}

/// `baton show ID` as text.
fn show(h: &Home, id: &str) -> String {
    String::from_utf8(h.ok(&["show", id]).stdout).unwrap()
}

/// The task's plugin log lines of `level`, from `show --json`.
fn log_lines(h: &Home, id: &str, level: &str) -> Vec<String> {
    let v = h.json(&["show", id, "--json"]);
    v["logs"]
        .as_array()
        .unwrap_or_else(|| panic!("no logs in {v}"))
        .iter()
        .filter(|l| l["level"] == level)
        .map(|l| l["message"].as_str().unwrap().to_string())
        .collect()
}

/// A scaffold, built by its own test script, then `hello` (printing) and `boom` (an uncaught
/// error) through `serve --once`: the printed line and the error are in the plugin log, and
/// the error's last stderr lines in the RETURN.
fn scaffold_runs_and_explains_its_crash(
    lang: &str,
    name: &str,
    source: &str,
    marker: &str,
    replacement: &str,
) -> (Value, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    scaffold(&dir, name, lang);
    patch(&dir.join(source), marker, replacement);
    // test.sh's throwaway home compiles the component into the same per-user cache as the
    // home below, as one user's homes share it: one compile of a big component, not two.
    let h = Home::init(&[], "");
    let out = script(&dir, "test.sh", &[("XDG_CACHE_HOME", &h.cache_root())]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\"status\": \"completed\""), "{stdout}");
    assert!(stdout.contains("Hello, world!"), "hello with {{}} greets the world: {stdout}");
    let wasm = dir.join(format!("{name}.wasm"));
    assert!(wasm.is_file());
    let cache = h.cache_root();
    builds_only_what_changed(&dir, name, source, &[("XDG_CACHE_HOME", &cache)]);
    assert!(!dir.join("node_modules").exists() && !dir.join(".venv").exists(), "the tool is not in the plugin");

    install(&h, &wasm);
    drop_task(&h, "HELLO", name, "hello", json!({"name": "Ada"}));
    drop_task(&h, "BOOM", name, "hello", json!({"name": "boom"}));
    // `greet` asks back with the scaffold's `ask` helper: the TASK waits for the answer, then
    // the plugin runs again with it.
    drop_task(&h, "GREET", name, "greet", json!({}));
    h.ok(&["serve", "--once"]);
    let waiting = h.json(&["show", "GREET", "--json"]);
    assert_eq!(waiting["task"]["state"], "input_required", "{waiting}");
    assert_eq!(waiting["input_request"]["message"], "Who should I greet?", "{waiting}");
    let bad = h.run(&["answer", "GREET", "--input", r#"{"nom": "Ada"}"#]);
    assert_eq!(bad.status.code(), Some(2), "an answer that does not match the schema is refused");
    h.ok(&["answer", "GREET", "--input", r#"{"name": "Grace"}"#]);
    h.ok(&["serve", "--once"]);
    let greeted = ret(&h, "GREET");
    assert_eq!(
        (greeted["status"].as_str(), &greeted["result"]["greeting"]),
        (Some("completed"), &json!("Hello, Grace!")),
        "{greeted}"
    );
    let hello = ret(&h, "HELLO");
    assert_eq!(hello["status"], "completed", "{hello}");
    assert_eq!(hello["result"]["greeting"], "Hello, Ada!", "{hello}");
    assert_eq!(
        log_lines(&h, "HELLO", "stdout"),
        vec!["about to greet Ada".to_string()],
        "print() is kept in the plugin log"
    );
    let boom = ret(&h, "BOOM");
    assert_eq!(boom["status"], "failed", "{boom}");
    assert_eq!(boom["error"]["code"], "trap", "{boom}");
    let message = boom["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("no boom allowed"), "the RETURN quotes the plugin's error: {message}");
    let text = show(&h, "BOOM");
    assert!(
        text.contains("stderr") && text.contains("no boom allowed"),
        "`baton show` lists the stderr lines:\n{text}"
    );
    (boom, text)
}

#[test]
fn python_scaffold_builds_runs_and_its_traceback_reaches_show_and_the_return() {
    let (boom, text) = scaffold_runs_and_explains_its_crash(
        "python",
        "pyhello",
        "src/app.py",
        "    name = params.get(\"name\", \"world\")\n",
        "    name = params.get(\"name\", \"world\")\n    if name == \"boom\":\n        raise ValueError(\"no boom allowed\")\n    print(\"about to greet\", name)\n",
    );
    let message = boom["error"]["message"].as_str().unwrap();
    // The whole traceback, readable: its header, the frame that raised, and the error.
    for needed in ["Traceback (most recent call last):", "app.py", "in hello", "ValueError: no boom allowed"] {
        assert!(message.contains(needed), "RETURN message lacks {needed:?}:\n{message}");
        assert!(text.contains(needed), "`baton show` lacks {needed:?}:\n{text}");
    }
    // Line by line, in order, as Python printed it.
    // The guest's error comes first (after the code's `trapped: ` label), the trap after it.
    let lines: Vec<&str> = message.lines().map(|l| l.trim_start_matches("trapped: ")).collect();
    let at = |needle: &str| {
        lines.iter().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle:?} in\n{message}"))
    };
    assert!(
        at("Traceback (most recent call last):") < at("in hello") && at("in hello") < at("ValueError: no boom allowed"),
        "{message}"
    );
    assert!(lines.contains(&"ValueError: no boom allowed"), "the error is a line of its own:\n{message}");
}

#[test]
fn javascript_scaffold_builds_runs_and_its_stack_reaches_show_and_the_return() {
    let (boom, _) = scaffold_runs_and_explains_its_crash(
        "js",
        "jshello",
        "src/app.js",
        "  const name = params.name ?? 'world';\n",
        "  const name = params.name ?? 'world';\n  if (name === 'boom') throw new Error('no boom allowed');\n  console.log(`about to greet ${name}`);\n",
    );
    let message = boom["error"]["message"].as_str().unwrap();
    // The stack, readable: the error, then the frame that threw with its file and line, then
    // its caller, one a line (the scaffold's `handle` prints it to stderr before rethrowing).
    let lines: Vec<&str> = message.lines().map(|l| l.trim_start_matches("trapped: ")).collect();
    let at = |needle: &str| {
        lines.iter().position(|l| l.starts_with(needle)).unwrap_or_else(|| panic!("{needle:?} in\n{message}"))
    };
    assert!(at("Error: no boom allowed") < at("hello@src/app.js:"), "{message}");
    assert!(at("hello@src/app.js:") < at("handle@src/app.js:"), "{message}");
}

#[test]
fn rust_scaffold_builds_and_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rshello");
    scaffold(&dir, "rshello", "rust");
    // Incremental across local runs, as on a developer's machine; empty on a fresh one.
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scaffold-rust-target");
    let cache = tmp.path().join("xdg-cache");
    let out = script(&dir, "test.sh", &[("CARGO_TARGET_DIR", &target), ("XDG_CACHE_HOME", &cache)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\"status\": \"completed\"") && stdout.contains("Hello, world!"), "{stdout}");
    let size = std::fs::metadata(dir.join("rshello.wasm")).unwrap().len();
    assert!(size < 2 << 20, "a Rust plugin stays small: {size} bytes");
    let envs = [("CARGO_TARGET_DIR", target.as_path()), ("XDG_CACHE_HOME", cache.as_path())];
    builds_only_what_changed(&dir, "rshello", "src/lib.rs", &envs);
    // An edit that keeps the file's time (as a checkout or a copy with `cp -p` may): the hash
    // of the content sees it.
    let lib = dir.join("src/lib.rs");
    let mtime = std::fs::metadata(&lib).unwrap().modified().unwrap();
    patch(&lib, "Greets params.name.", "Greets whoever params.name names.");
    std::fs::File::options().append(true).open(&lib).unwrap().set_modified(mtime).unwrap();
    rebuild(&dir, "rshello", &envs, false, "the source edited, its time kept");
    // The component replaced by something else, or deleted: built again.
    std::fs::write(dir.join("rshello.wasm"), b"not the build's").unwrap();
    rebuild(&dir, "rshello", &envs, false, "the component replaced");
    std::fs::remove_file(dir.join("rshello.wasm")).unwrap();
    let out = script(&dir, "build.sh", &envs);
    assert!(String::from_utf8_lossy(&out.stdout).contains("built "), "the component deleted: built again");
    rebuild(&dir, "rshello", &envs, true, "nothing changed since");
}

/// A Rust plugin that panics: the panic message it printed to stderr is in the RETURN and the
/// plugin log, where the RETURN used to say only that wasm hit `unreachable`.
#[test]
fn a_panic_message_reaches_the_return_and_show() {
    let h = Home::init(&[], "");
    let tmp = tempfile::tempdir().unwrap();
    let wasm = tmp.path().join("testkit.wasm");
    std::fs::write(&wasm, baton_bundle::get("testkit").expect("testkit is bundled").wasm).unwrap();
    install(&h, &wasm);
    drop_task(&h, "PANIC", "testkit", "panic", json!({}));
    h.ok(&["serve", "--once"]);
    let r = ret(&h, "PANIC");
    assert_eq!(r["error"]["code"], "trap", "{r}");
    let message = r["error"]["message"].as_str().unwrap();
    assert!(message.contains("unreachable"), "the trap itself is still named: {message}");
    assert!(message.contains("testkit panics on purpose"), "the panic message is quoted: {message}");
    let stderr = log_lines(&h, "PANIC", "stderr");
    assert!(stderr.iter().any(|l| l.contains("testkit panics on purpose")), "{stderr:?}");
    let text = show(&h, "PANIC");
    assert!(text.contains("testkit panics on purpose"), "{text}");
}
