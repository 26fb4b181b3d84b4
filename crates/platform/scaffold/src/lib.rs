//! `baton plugin new NAME --lang rust|python|js [--dir D]`: writes a plugin project that
//! builds and passes its own test out of the box, so a plugin author starts from something
//! that runs instead of copying `wit/` and guessing at the bindings.
//!
//! Needs no home. Writes the whole WIT tree this binary was built with (embedded by
//! `build.rs`), an example action whose params schema accepts `{}`, a README, `build.sh` (the
//! one build command: writes `NAME.wasm` beside it) and `test.sh` (build, install into a
//! throwaway home, run the example once). Python and JavaScript pin their componentize tool,
//! installed once per version into a per-user folder shared by every plugin
//! (`~/.cache/baton/toolchains/`), not into each project. Every `build.sh` keeps a stamp
//! beside the component (a hash of its inputs and of the component) and runs no tool when
//! nothing changed, so an unchanged rebuild answers at once.
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

mod wit {
    include!(concat!(env!("OUT_DIR"), "/wit_files.rs"));
}

/// The componentize-py the Python scaffold pins (PyPI).
pub const COMPONENTIZE_PY: &str = "0.25.1";
/// The componentize-js the JavaScript scaffold pins (npm `@bytecodealliance/componentize-js`).
pub const COMPONENTIZE_JS: &str = "0.23.0";
/// The wit-bindgen the Rust scaffold asks for (the first-party plugins' version).
pub const WIT_BINDGEN: &str = "0.61";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Rust,
    Python,
    #[value(alias = "javascript")]
    Js,
}

#[derive(clap::Args)]
pub struct NewArgs {
    /// The plugin's name: lowercase letters, digits, `-` and `_`, starting with a letter. It is
    /// also the folder's name and the component's file name (NAME.wasm).
    pub name: String,
    /// The language of the plugin.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// Where to write it (default: ./NAME). Must not exist, or be an empty folder.
    #[arg(long, value_name = "D")]
    pub dir: Option<PathBuf>,
    /// List what would be written, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print what was (or would be) written as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// One file of a scaffold.
pub struct File {
    pub path: String,
    pub bytes: Vec<u8>,
    pub executable: bool,
}

pub fn run(args: NewArgs) -> Result<i32> {
    check_name(&args.name)?;
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(&args.name));
    let files = scaffold(&args.name, args.lang)?;
    if !args.dry_run {
        write(&dir, &files)?;
    }
    if args.json {
        let out = serde_json::json!({
            "name": args.name,
            "lang": args.lang,
            "dir": dir,
            "dry_run": args.dry_run,
            "files": files.iter().map(|f| &f.path).collect::<Vec<_>>(),
            "build": "./build.sh",
            "test": "./test.sh",
            "component": format!("{}.wasm", args.name),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(0);
    }
    let verb = if args.dry_run { "would write" } else { "wrote" };
    println!("{verb} a {} plugin `{}` in {} ({} files):", lang_title(args.lang), args.name, dir.display(), files.len());
    for f in files.iter().filter(|f| !f.path.starts_with("wit/")) {
        println!("  {}", f.path);
    }
    println!("  wit/ ({} files)", files.iter().filter(|f| f.path.starts_with("wit/")).count());
    let shown = shell_quote(&dir.display().to_string());
    println!("next:\n  cd {shown} && ./build.sh        # writes {}.wasm", args.name);
    println!("  ./test.sh                          # runs `hello` once in a throwaway home");
    println!("  baton plugin install {}.wasm", args.name);
    Ok(0)
}

/// A name that is at once a valid plugin name, file name, Rust crate name and npm name.
fn check_name(name: &str) -> Result<()> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !ok {
        bail!(
            "{name:?} is not a plugin name baton plugin new can use: lowercase letters, digits, `-` and `_`, starting \
             with a letter, at most 64 characters (e.g. `my-plugin`)"
        );
    }
    if baton_runtime::is_reserved_plugin_name(name) {
        bail!("the plugin name {name:?} is reserved for baton itself; choose another name");
    }
    Ok(())
}

/// What the embedded `wit/plugin.wit` says: its package version and its first world, with
/// whether that world exports `catalog-access` (the scaffold implements exactly its exports).
#[derive(Debug, PartialEq)]
struct WitFacts {
    version: String,
    world: String,
    catalog_access: bool,
}

fn wit_facts(text: &str) -> Result<WitFacts> {
    let code: Vec<&str> = text.lines().map(|l| l.split("//").next().unwrap_or("").trim()).collect();
    let version = code
        .iter()
        .find_map(|l| l.strip_prefix("package baton:plugin@"))
        .map(|v| v.trim_end_matches(';').trim().to_string())
        .context("wit/plugin.wit names no `package baton:plugin@VERSION;`")?;
    let start =
        code.iter().position(|l| l.starts_with("world ") && l.ends_with('{')).context("wit/plugin.wit has no world")?;
    let world = code[start].trim_start_matches("world ").trim_end_matches('{').trim().to_string();
    let mut depth = 0i32;
    let mut catalog_access = false;
    for l in &code[start..] {
        depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
        catalog_access |= l.starts_with("export catalog-access");
        if depth <= 0 {
            break;
        }
    }
    Ok(WitFacts { version, world, catalog_access })
}

fn lang_title(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "Rust",
        Lang::Python => "Python",
        Lang::Js => "JavaScript",
    }
}

/// Every file of a new plugin `name` in `lang`, the WIT tree first.
pub fn scaffold(name: &str, lang: Lang) -> Result<Vec<File>> {
    let plugin_wit = wit::WIT_FILES
        .iter()
        .find(|(p, _)| *p == "plugin.wit")
        .context("this baton was built without wit/plugin.wit")?;
    let facts = wit_facts(&String::from_utf8_lossy(plugin_wit.1))?;
    let crate_name = name.replace('-', "_");
    // First: the stamp fragment holds placeholders of its own, filled by the entries after it.
    let vars: Vec<(&str, String)> = vec![
        ("stamp", include_str!("templates/stamp.sh").trim_end().to_string()),
        ("name", name.to_string()),
        ("crate", crate_name),
        (
            "lang",
            match lang {
                Lang::Rust => "rust",
                Lang::Python => "python",
                Lang::Js => "js",
            }
            .to_string(),
        ),
        ("lang_title", lang_title(lang).to_string()),
        ("world", facts.world.clone()),
        ("wit_version", facts.version.clone()),
        ("componentize_py", COMPONENTIZE_PY.to_string()),
        ("componentize_js", COMPONENTIZE_JS.to_string()),
        ("wit_bindgen", WIT_BINDGEN.to_string()),
        ("python_catalog_access", if facts.catalog_access { PY_CATALOG_ACCESS } else { "" }.to_string()),
        ("js_catalog_access", if facts.catalog_access { JS_CATALOG_ACCESS } else { "" }.to_string()),
        ("rust_catalog_access", if facts.catalog_access { RUST_CATALOG_ACCESS } else { "" }.to_string()),
    ];
    let mut files: Vec<File> = wit::WIT_FILES
        .iter()
        .map(|(p, b)| File { path: format!("wit/{p}"), bytes: b.to_vec(), executable: false })
        .collect();
    let mut add = |path: &str, template: &str, executable: bool| {
        files.push(File { path: path.to_string(), bytes: fill(template, &vars).into_bytes(), executable });
    };
    let readme_vars: &[(&str, &str)] = match lang {
        Lang::Python => {
            add("src/app.py", include_str!("templates/python/app.py"), false);
            add("build.sh", include_str!("templates/python/build.sh"), true);
            add(".gitignore", &include_str!("templates/gitignore").replace("{{ignore}}", "__pycache__/"), false);
            &[
                ("source", "src/app.py"),
                ("extra_files", ""),
                ("build_notes", PY_BUILD_NOTES),
                ("crash", "an uncaught exception: its traceback"),
                ("failure_how", "In Python: `raise Err(Failure_InvalidInput(\"why\"))` (`componentize_py_types.Err`)."),
                ("limits_note", PY_LIMITS),
            ]
        }
        Lang::Js => {
            add("src/app.js", include_str!("templates/js/app.js"), false);
            add("build.sh", include_str!("templates/js/build.sh"), true);
            add("package.json", include_str!("templates/js/package.json"), false);
            add(".gitignore", &include_str!("templates/gitignore").replace("{{ignore}}", "node_modules/"), false);
            &[
                ("source", "src/app.js"),
                (
                    "extra_files",
                    "| `package.json` | `npm run build` and `npm test` (the tool is pinned in `build.sh`) |\n",
                ),
                ("build_notes", JS_BUILD_NOTES),
                ("crash", "an uncaught `Error`: its message"),
                (
                    "failure_how",
                    "In JavaScript: `throw { tag: 'invalid-input', val: 'why' }` (a plain object, not an `Error`).",
                ),
                ("limits_note", JS_LIMITS),
            ]
        }
        Lang::Rust => {
            add("Cargo.toml", include_str!("templates/rust/Cargo.toml"), false);
            add("src/lib.rs", include_str!("templates/rust/lib.rs"), false);
            add("build.sh", include_str!("templates/rust/build.sh"), true);
            add(".gitignore", &include_str!("templates/gitignore").replace("{{ignore}}", "target/"), false);
            &[
                ("source", "src/lib.rs"),
                (
                    "extra_files",
                    "| `Cargo.toml` | the crate: a `cdylib` built for `wasm32-wasip2` with wit-bindgen |\n",
                ),
                ("build_notes", RUST_BUILD_NOTES),
                ("crash", "a panic: its message"),
                ("failure_how", "In Rust: `Err(Failure::InvalidInput(\"why\".into()))`."),
                ("limits_note", RUST_LIMITS),
            ]
        }
    };
    add("test.sh", include_str!("templates/test.sh"), true);
    let mut readme = include_str!("templates/README.md").to_string();
    for (k, v) in readme_vars {
        readme = readme.replace(&format!("{{{{{k}}}}}"), v);
    }
    add("README.md", &readme, false);
    Ok(files)
}

/// Replaces every `{{key}}` of `vars` (the unit tests check that none is left over).
fn fill(template: &str, vars: &[(&str, String)]) -> String {
    let mut out = template.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

/// Writes the files into a fresh folder next to `dir`, then renames it into place: `dir` ends
/// up complete or not at all. An existing `dir` must be an empty folder; nothing is replaced.
fn write(dir: &Path, files: &[File]) -> Result<()> {
    if let Ok(meta) = std::fs::symlink_metadata(dir) {
        let empty = meta.is_dir() && std::fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(false);
        if !empty {
            bail!(
                "{} already exists and is not an empty folder: nothing was written. Choose another NAME, or another \
                 place with --dir",
                dir.display()
            );
        }
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    baton_fs::ensure_dir(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let leaf = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "plugin".into());
    let staging = parent.join(format!(".{leaf}.new-{}", std::process::id()));
    let result = (|| -> Result<()> {
        for f in files {
            let path = staging.join(&f.path);
            if let Some(p) = path.parent() {
                baton_fs::ensure_dir(p).with_context(|| format!("creating {}", p.display()))?;
            }
            let mut out = std::fs::File::create(&path).with_context(|| format!("writing {}", path.display()))?;
            out.write_all(&f.bytes).with_context(|| format!("writing {}", path.display()))?;
            if f.executable {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                    .with_context(|| format!("making {} executable", path.display()))?;
            }
        }
        // Onto an empty folder or nothing; a folder someone filled meanwhile makes this fail.
        std::fs::rename(&staging, dir).with_context(|| format!("moving the new plugin into {}", dir.display()))
    })();
    if result.is_err() {
        // Only the staging folder this call made, never anything of the user's.
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

fn shell_quote(s: &str) -> String {
    if s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

const PY_CATALOG_ACCESS: &str = "
    def catalog_access(self):
        # The catalog collections it reads and writes; none here.
        return []
";

const JS_CATALOG_ACCESS: &str = "
// The catalog collections it reads and writes; none here.
export function catalogAccess() {
  return [];
}
";

const RUST_CATALOG_ACCESS: &str = "
    fn catalog_access() -> Vec<baton::plugin::types::CollectionRequest> {
        // The catalog collections it reads and writes; none here.
        vec![]
    }
";

const PY_BUILD_NOTES: &str =
    "The first `./build.sh` installs the pinned componentize-py into a venv that all your Python
plugins share, `${XDG_CACHE_HOME:-~/.cache}/baton/toolchains/componentize-py-VERSION/` (from
PyPI, about 1 minute, once per version), unless one of exactly that version is on `PATH`;
later builds need no network. It needs `python3` (3.10 or later) with `venv`. A build takes
10–60 s and writes a component of about 18 MB (CPython and the standard library are inside).
The plugin's Python path is `src/` alone, not your Python's site-packages: vendor pure-Python
packages under `src/` (`pip install --target src PACKAGE`); packages with native code do not
build for wasm.";

const JS_BUILD_NOTES: &str = "The first `./build.sh` installs the pinned componentize-js into a folder that all your
JavaScript plugins share, `${XDG_CACHE_HOME:-~/.cache}/baton/toolchains/componentize-js-VERSION/`
(from npm, about 1 minute and some 385 MB, once per version), unless one of exactly that
version is on `PATH`; the plugin keeps no `node_modules/`, and later builds need no network.
It needs `node` and `npm`. A build takes 10–60 s and writes a component of about 12 MB (the
StarlingMonkey engine is inside). componentize-js follows relative imports under `src/`, never
npm package names: to use npm packages, install them here and bundle them into one file first (esbuild,
rollup); that `node_modules/` is for your packages, the tool stays shared. It is built with
`-d http fetch-event`: baton gives plugins no network and refuses a component that imports it.";

const RUST_BUILD_NOTES: &str = "It needs cargo with the `wasm32-wasip2` target (`build.sh` adds it through rustup when
missing); the first build downloads wit-bindgen and serde_json from crates.io. The component
is about 100 KB.";

const PY_LIMITS: &str = "A Python plugin is a whole interpreter: this one needs 13 MB of the memory cap for itself
(measured; more for the data it builds), and the first task after an install or upgrade
waits for the 18 MB component to compile (tens of seconds, once: it is cached).";

const JS_LIMITS: &str = "A JavaScript plugin is a whole engine: this one needs 10 MB of the memory cap for itself
(measured; more for the data it builds), and the first task after an install or upgrade
waits for the 12 MB component to compile (tens of seconds, once: it is cached).";

const RUST_LIMITS: &str = "A Rust plugin needs little of it.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_of_the_embedded_wit() {
        let (_, text) = wit::WIT_FILES.iter().find(|(p, _)| *p == "plugin.wit").expect("plugin.wit embedded");
        let f = wit_facts(&String::from_utf8_lossy(text)).unwrap();
        assert!(f.version.starts_with("0."), "{f:?}");
        assert!(!f.world.is_empty() && !f.world.contains(' '), "{f:?}");
    }

    #[test]
    fn facts_read_the_first_world_only() {
        let text = "// world commented {\npackage baton:plugin@1.2.0;\ninterface x {\n}\nworld core {\n    export describe: func();\n}\nworld full {\n  export catalog-access: func();\n}\n";
        assert_eq!(
            wit_facts(text).unwrap(),
            WitFacts { version: "1.2.0".into(), world: "core".into(), catalog_access: false }
        );
        let text = "package baton:plugin@0.4.0;\nworld plugin {\n    use types.{a};\n    export catalog-access: func() -> list<u8>;\n}\n";
        assert!(wit_facts(text).unwrap().catalog_access);
        assert!(wit_facts("world x {\n}\n").is_err(), "no package line");
    }

    #[test]
    fn every_scaffold_has_the_whole_wit_tree_and_no_placeholder_left() {
        for lang in [Lang::Rust, Lang::Python, Lang::Js] {
            let files = scaffold("my-plugin", lang).unwrap();
            for (p, _) in wit::WIT_FILES {
                assert!(files.iter().any(|f| f.path == format!("wit/{p}")), "{lang:?}: wit/{p} missing");
            }
            for f in &files {
                let text = String::from_utf8_lossy(&f.bytes);
                if !f.path.starts_with("wit/") {
                    assert!(!text.contains("{{"), "{lang:?} {}: a placeholder left:\n{text}", f.path);
                }
                for key in [
                    "{{name}}",
                    "{{world}}",
                    "{{crate}}",
                    "{{source}}",
                    "{{lang",
                    "{{componentize",
                    "_catalog_access}}",
                ] {
                    assert!(!text.contains(key), "{lang:?} {}: {key} left", f.path);
                }
            }
            for needed in ["build.sh", "test.sh", "README.md"] {
                let f = files.iter().find(|f| f.path == needed).unwrap_or_else(|| panic!("{lang:?}: no {needed}"));
                assert_eq!(f.executable, needed.ends_with(".sh"));
            }
        }
    }

    /// `./x setup` installs the very versions the scaffolds pin.
    #[test]
    fn setup_installs_the_pinned_versions() {
        let x = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../x")).unwrap();
        assert!(x.contains(&format!("\nCOMPONENTIZE_PY={COMPONENTIZE_PY}\n")), "x pins another componentize-py");
        assert!(x.contains(&format!("\nCOMPONENTIZE_JS={COMPONENTIZE_JS}\n")), "x pins another componentize-js");
    }

    #[test]
    fn names_that_would_break_a_build_are_refused() {
        for bad in ["", "My", "1x", "a b", "a/b", "../x", "baton", "core", "a.b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["x", "my-plugin", "my_plugin2"] {
            check_name(good).unwrap();
        }
    }

    #[test]
    fn write_refuses_a_folder_with_something_in_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("p");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("mine.txt"), "keep").unwrap();
        let files = scaffold("p", Lang::Python).unwrap();
        let err = write(&dir, &files).unwrap_err().to_string();
        assert!(err.contains("not an empty folder"), "{err}");
        assert_eq!(std::fs::read_to_string(dir.join("mine.txt")).unwrap(), "keep");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_file(dir.join("mine.txt")).unwrap();
        write(&dir, &files).unwrap();
        assert!(dir.join("build.sh").is_file() && dir.join("wit/plugin.wit").is_file());
        let leftovers: Vec<_> =
            std::fs::read_dir(tmp.path()).unwrap().flatten().filter(|e| e.file_name() != "p").collect();
        assert!(leftovers.is_empty(), "staging folder left behind: {leftovers:?}");
    }
}
