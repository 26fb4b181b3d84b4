//! Compiles the plugins under `plugins/` for `wasm32-wasip2` and embeds the components.
//!
//! Why a build script: `baton init` installs the first-party plugins, and the tests need real
//! components, so one `cargo build`/`cargo test` must produce them. The plugins live in their
//! own cargo workspace (they never build for the native target) with their own target folder,
//! `target/wasm-plugins` in the repository, so this nested cargo never waits on the outer one's
//! lock. That folder is the same whatever the outer build's target folder: the components do not
//! depend on the outer profile, and CI's check builds (their own target folder, beside the test
//! build) then reuse the test build's components instead of compiling every plugin a second time
//! (194 s of a fresh `cargo check --workspace --all-targets`).
//!
//! A plugin crate is a crate with a `cdylib` (the SDK, `plugins/baton-plugin`, is a library
//! and is not embedded). A crate marked `[package.metadata.baton] test-fixture = true` (the
//! hostile test kit, the legacy-version fixtures) is built and embedded only with the
//! `test-fixtures` feature, which only the test builds turn on (dev-dependencies): the shipped
//! binary carries the first-party plugins alone.
use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.join("../../..").canonicalize().unwrap();
    let plugins = root.join("plugins");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target_dir = root.join("target/wasm-plugins");

    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    println!("cargo:rerun-if-changed={}", plugins.join("Cargo.toml").display());
    println!("cargo:rerun-if-changed={}", plugins.join("Cargo.lock").display());
    // Plugins compile host-side pure-Rust cores (baton-audit, baton-djay, baton-normalize, …)
    // into their components. Which ones is read from the nested build's own dependency files
    // after it ran (`watch_dep_info`), so a new shared core can never be forgotten here.
    let fixtures_wanted = env::var_os("CARGO_FEATURE_TEST_FIXTURES").is_some();
    let mut names = Vec::new();
    let mut fixtures = Vec::new();
    for entry in fs::read_dir(&plugins).unwrap() {
        let dir = entry.unwrap().path();
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        if manifest.contains("\"cdylib\"") {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            if is_test_fixture(&manifest) {
                if !fixtures_wanted {
                    continue;
                }
                fixtures.push(name.clone());
            }
            for watched in ["Cargo.toml", "src", "wit"] {
                if dir.join(watched).exists() {
                    println!("cargo:rerun-if-changed={}", dir.join(watched).display());
                }
            }
            names.push(name);
        }
    }
    names.sort();
    fixtures.sort();

    require_wasm_target();
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
        .arg(plugins.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    for name in &names {
        cmd.args(["-p", name]);
    }
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("running cargo for the plugins");
    if !status.success() {
        panic!(
            "building the plugins in {} for wasm32-wasip2 failed (is the target installed? \
             `rustup target add wasm32-wasip2`)",
            plugins.display()
        );
    }

    let mut table =
        String::from("/// The first-party plugins in `plugins/`, by crate name.\npub static ALL: &[Bundled] = &[\n");
    let mut fixture_table = String::from(
        "/// The test plugins (only with the `test-fixtures` feature).\npub static FIXTURES: &[Bundled] = &[\n",
    );
    for name in &names {
        let file = name.replace('-', "_") + ".wasm";
        let built = target_dir.join("wasm32-wasip2/release").join(&file);
        let copied = out.join(&file);
        copy_if_changed(&built, &copied);
        watch_dep_info(&target_dir.join("wasm32-wasip2/release").join(name.replace('-', "_") + ".d"), &root);
        let row =
            format!("    Bundled {{ name: {name:?}, wasm: include_bytes!({:?}) }},\n", copied.display().to_string());
        if fixtures.contains(name) {
            fixture_table += &row;
        } else {
            table += &row;
        }
    }
    table += "];\n";
    fixture_table += "];\n";
    fs::write(out.join("bundle.rs"), table + &fixture_table).unwrap();
}

/// Whether a plugin's manifest marks it a test fixture (`[package.metadata.baton]` with
/// `test-fixture = true`).
fn is_test_fixture(manifest: &str) -> bool {
    let mut in_table = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_table = line == "[package.metadata.baton]";
        } else if in_table && line.replace(' ', "") == "test-fixture=true" {
            return true;
        }
    }
    false
}

/// Stops early, with the fix, when the toolchain lacks `wasm32-wasip2` (the usual first
/// `cargo install` on a new machine), instead of failing deep inside the nested build.
fn require_wasm_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).args(["--print", "sysroot"]).output() else { return };
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if out.status.success() && !sysroot.join("lib/rustlib/wasm32-wasip2").is_dir() {
        panic!(
            "baton embeds its plugins compiled for wasm32-wasip2, and this toolchain ({}) does not have that \
             target. Run `rustup target add wasm32-wasip2`, then build (or `cargo install --locked --path \
             crates/app`) again.",
            sysroot.display()
        );
    }
}

fn copy_if_changed(from: &Path, to: &Path) {
    let bytes = fs::read(from).unwrap_or_else(|e| panic!("reading {}: {e}", from.display()));
    if fs::read(to).ok().as_deref() != Some(&bytes[..]) {
        fs::write(to, bytes).unwrap();
    }
}

/// Re-runs this script when any source file inside the repository that a plugin was built
/// from changes, as cargo's `.d` dependency file for the component lists them (`out: dep dep…`,
/// spaces inside a path escaped with `\`). Registry sources outside the repository never change.
fn watch_dep_info(dep_file: &Path, root: &Path) {
    let Ok(text) = fs::read_to_string(dep_file) else {
        println!("cargo:warning=no dependency file {}: plugin rebuild triggers may be incomplete", dep_file.display());
        return;
    };
    let Some((_, deps)) = text.split_once(": ") else { return };
    let mut path = String::new();
    let mut chars = deps.trim_end().chars().peekable();
    let emit = |path: &mut String| {
        let p = Path::new(path.as_str());
        if p.starts_with(root) && !p.starts_with(root.join("target")) {
            println!("cargo:rerun-if-changed={}", p.display());
        }
        path.clear();
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => path.push(chars.next().unwrap_or(' ')),
            ' ' | '\n' => {
                if !path.is_empty() {
                    emit(&mut path);
                }
            }
            c => path.push(c),
        }
    }
    if !path.is_empty() {
        emit(&mut path);
    }
}
