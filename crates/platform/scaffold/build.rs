//! Embeds the whole root `wit/` tree into the binary for `baton plugin new`, which writes it
//! out beside a new plugin's source. Every file under `wit/` is listed, whatever its folder
//! layout (`plugin.wit`, frozen `v0.N/` versions, further packages), so the scaffold follows
//! the WIT as it changes with no list to keep by hand.
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest.join("../../../wit");
    // A folder here makes cargo rescan every file beneath it for changes.
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    files.sort();
    let mut out = String::from("/// Every file under the repository's `wit/`: (path relative to it, bytes).\n");
    out.push_str("pub static WIT_FILES: &[(&str, &[u8])] = &[\n");
    for (rel, abs) in &files {
        out.push_str(&format!("    ({rel:?}, include_bytes!({:?})),\n", abs.display().to_string()));
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("wit_files.rs");
    std::fs::write(&dest, out).unwrap_or_else(|e| panic!("writing {}: {e}", dest.display()));
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        let path = entry.path();
        let kind = entry.file_type().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if kind.is_dir() {
            collect(root, &path, files);
        } else if kind.is_file() {
            let rel = path.strip_prefix(root).expect("beneath the root").to_string_lossy().replace('\\', "/");
            let abs = path.canonicalize().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            files.push((rel, abs));
        }
    }
}
