//! Telling a real file from a placeholder: empty files (0 bytes, or only whitespace), code that is only `pass`,
//! `...`, `TODO`, `raise NotImplementedError`, `todo!()`, `unimplemented!()`, "not
//! implemented" throws, declarations with empty bodies, or documents holding only headings
//! and TODOs. Line-based and language-aware enough for plans' deliverables; it names the
//! reason it found.

/// Files larger than this are never stubs (and are not read).
pub const READ_LIMIT: u64 = 64 * 1024;

/// Files that are legitimately empty.
const MAY_BE_EMPTY: &[&str] = &["__init__.py", "py.typed", ".gitkeep", ".keep", "__init__.pyi", ".nojekyll"];

/// Files whose job is to declare or re-export modules: declarations alone are their content.
const MODULE_ROOTS: &[&str] = &[
    "mod.rs",
    "lib.rs",
    "__init__.py",
    "__init__.pyi",
    "index.ts",
    "index.js",
    "index.tsx",
    "index.mjs",
    "index.cjs",
    "mod.ts",
    "package-info.java",
    "doc.go",
    "__main__.py",
];

#[derive(Clone, Copy, PartialEq)]
enum Family {
    Hash,
    Slash,
    Dash,
    Doc,
}

fn family(name: &str) -> Family {
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "py" | "pyi" | "sh" | "bash" | "zsh" | "fish" | "rb" | "pl" | "pm" | "r" | "ex" | "exs" | "jl" | "nim"
        | "ps1" | "psm1" | "cmake" | "mk" | "tf" | "hcl" => Family::Hash,
        "rs" | "js" | "mjs" | "cjs" | "ts" | "tsx" | "jsx" | "mts" | "cts" | "go" | "java" | "kt" | "kts" | "swift"
        | "m" | "mm" | "c" | "h" | "cc" | "cpp" | "cxx" | "hpp" | "hh" | "cs" | "fs" | "php" | "scala" | "dart"
        | "gs" | "zig" | "proto" | "sol" | "groovy" | "gradle" | "vue" | "svelte" | "astro" | "scss" | "css"
        | "less" | "wit" | "prisma" => Family::Slash,
        "lua" | "sql" | "hs" | "elm" => Family::Dash,
        "" if matches!(name, "Dockerfile" | "Makefile" | "Justfile" | "Procfile" | "Containerfile") => Family::Hash,
        _ => Family::Doc,
    }
}

fn has_todo_word(s: &str) -> bool {
    let u = s.to_uppercase();
    ["TODO", "FIXME", "TBD", "PLACEHOLDER", "NOT IMPLEMENTED", "COMING SOON", "LOREM IPSUM", "STUB"]
        .iter()
        .any(|w| u.contains(w))
}

/// A statement that stands in for code, with its name for the report.
fn placeholder(line: &str) -> Option<&'static str> {
    let t = line.trim().trim_end_matches(';');
    let lower = t.to_lowercase();
    if t == "pass" || t.ends_with(": pass") {
        return Some("`pass`");
    }
    if t == "..." || t.ends_with(": ...") {
        return Some("`...`");
    }
    if t.contains("NotImplementedError") || t.contains("return NotImplemented") {
        return Some("`raise NotImplementedError`");
    }
    if t.contains("todo!(") {
        return Some("`todo!()`");
    }
    if t.contains("unimplemented!(") {
        return Some("`unimplemented!()`");
    }
    if (lower.contains("throw") || lower.contains("panic") || lower.contains("raise") || lower.contains("error("))
        && (lower.contains("not implemented") || lower.contains("todo") || lower.contains("unimplemented"))
    {
        return Some("a \"not implemented\" error");
    }
    if lower.contains("notimplementedexception") || lower.contains("unsupportedoperationexception") {
        return Some("a \"not implemented\" exception");
    }
    None
}

/// Declarations, imports and punctuation: lines that are not behaviour by themselves.
fn structural(line: &str) -> bool {
    let t = line.trim();
    if t.chars().all(|c| matches!(c, '{' | '}' | '(' | ')' | '[' | ']' | ';' | ',' | ' ')) {
        return true;
    }
    // `import '@testing-library/jest-dom';`, `import "./polyfills"`: an import for its side
    // effect runs that module (a test setup file of one such line is complete), unlike an
    // import that binds names
    if let Some(rest) = t.strip_prefix("import ")
        && rest.trim_start().starts_with(['\'', '"'])
    {
        return false;
    }
    const HEADS: &[&str] = &[
        "def ",
        "async def ",
        "class ",
        "fn ",
        "pub fn ",
        "pub(crate) fn ",
        "async fn ",
        "pub async fn ",
        "impl ",
        "impl<",
        "struct ",
        "pub struct ",
        "enum ",
        "pub enum ",
        "trait ",
        "pub trait ",
        "mod ",
        "pub mod ",
        "use ",
        "pub use ",
        "import ",
        "from ",
        "#include",
        "package ",
        "function ",
        "export function ",
        "export async function ",
        "export default function ",
        "export class ",
        "export default class ",
        "export interface ",
        "interface ",
        "export type ",
        "func ",
        "public class ",
        "public interface ",
        "namespace ",
        "module ",
        "require ",
        "require(",
        "const { ",
        "#[",
        "#![",
        "@",
        "\"use strict\"",
        "'use strict'",
        "#!",
        "extern crate ",
        "local function ",
        "type ",
        "export {",
        "export *",
        "module.exports",
        "exports.",
        "}",
        "if __name__",
        "sys.exit(main())",
        "async function ",
    ];
    const EXACT: &[&str] = &[
        "end",
        "begin",
        "return",
        "return;",
        "return None",
        "return null",
        "return nil",
        "main()",
        "else:",
        "else",
        "try:",
        "finally:",
    ];
    if EXACT.contains(&t) || HEADS.iter().any(|h| t.starts_with(h)) {
        return true;
    }
    // a method or function signature opening a body: `constructor() {`, `fn x(&self) -> u8 {`
    let control = ["if", "for", "while", "switch", "match", "else if", "catch", "return", "loop"]
        .iter()
        .any(|k| t.starts_with(k));
    t.ends_with('{') && t.contains('(') && !t.contains(" = ") && !t.contains(';') && !control
        || (t.ends_with(':') && t.contains('(') && (t.starts_with("def ") || t.starts_with("async def ")))
}

/// Returns why a file is a placeholder, or `None` if it looks real.
pub fn stub_reason(name: &str, content: &[u8], size: u64) -> Option<String> {
    if size > READ_LIMIT {
        return None;
    }
    let text = String::from_utf8_lossy(content);
    if text.trim().is_empty() {
        if MAY_BE_EMPTY.contains(&name) {
            return None;
        }
        return Some(if size == 0 {
            "empty file (0 bytes)".to_string()
        } else {
            format!("blank file ({size} bytes of whitespace)")
        });
    }
    let fam = family(name);
    if fam == Family::Doc {
        return doc_reason(name, &text, size);
    }
    let mut placeholders: Vec<&'static str> = Vec::new();
    let mut real = 0usize;
    let mut decls = 0usize;
    let mut todo_comment = false;
    let mut in_block = false; // /* */
    let mut in_doc: Option<&str> = None; // python docstring quote
    for raw in text.lines() {
        let mut line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(q) = in_doc {
            if line.contains(q) {
                in_doc = None;
            }
            todo_comment |= has_todo_word(line);
            continue;
        }
        if in_block {
            todo_comment |= has_todo_word(line);
            if let Some(i) = line.find("*/") {
                in_block = false;
                line = line[i + 2..].trim();
                if line.is_empty() {
                    continue;
                }
            } else {
                continue;
            }
        }
        if fam == Family::Hash && (line.starts_with("\"\"\"") || line.starts_with("'''") || line.starts_with("r\"\"\""))
        {
            let q = if line.contains("'''") { "'''" } else { "\"\"\"" };
            let after = &line[line.find(q).map_or(0, |i| i + 3)..];
            if !after.contains(q) {
                in_doc = Some(q);
            }
            todo_comment |= has_todo_word(line);
            continue;
        }
        let comment = match fam {
            Family::Hash => line.starts_with('#') && !line.starts_with("#!") && !line.starts_with("#include"),
            Family::Slash => line.starts_with("//") || line.starts_with("/*") || line.starts_with('*'),
            Family::Dash => line.starts_with("--"),
            Family::Doc => false,
        };
        if comment {
            todo_comment |= has_todo_word(line);
            if line.starts_with("/*") && !line.contains("*/") {
                in_block = true;
            }
            continue;
        }
        // strip a trailing comment for classification
        let code = match fam {
            Family::Hash => line.split(" #").next().unwrap_or(line),
            Family::Slash => line.split(" //").next().unwrap_or(line),
            _ => line,
        };
        if code.len() < line.len() {
            todo_comment |= has_todo_word(&line[code.len()..]);
        }
        if let Some(p) = placeholder(code) {
            placeholders.push(p);
        } else if structural(code) {
            decls += 1;
        } else {
            real += 1;
        }
    }
    let first = placeholders.first().copied();
    // a module root or package marker (`mod.rs` of `pub mod` lines, an `__init__.py` with a
    // docstring, an `index.ts` of re-exports) is complete with declarations alone
    if real == 0 && first.is_none() && MODULE_ROOTS.contains(&name) {
        return None;
    }
    if real == 0 {
        if let Some(p) = first {
            return Some(format!(
                "only {p} placeholder{} ({} bytes)",
                if placeholders.len() > 1 { "s" } else { "" },
                size
            ));
        }
        if todo_comment {
            return Some(format!("only declarations and a TODO comment ({size} bytes)"));
        }
        if decls > 0 {
            return Some(format!("declarations with empty bodies, no code ({size} bytes)"));
        }
        return Some(format!("only comments ({size} bytes)"));
    }
    if let Some(p) = first
        && placeholders.len() > real
    {
        return Some(format!("{} placeholder statements ({p}…) against {real} lines of code", placeholders.len()));
    }
    // a short file with real code is small, not a placeholder
    None
}

fn doc_reason(name: &str, text: &str, size: u64) -> Option<String> {
    let t = text.trim();
    if matches!(t, "{}" | "[]" | "null" | "{ }" | "[ ]") {
        return Some(format!("empty document `{t}` ({size} bytes)"));
    }
    let is_md = name.ends_with(".md")
        || name.ends_with(".mdx")
        || name.ends_with(".rst")
        || name.ends_with(".txt")
        || name.ends_with(".adoc");
    let body: Vec<&str> = t
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter(|l| !(is_md && (l.starts_with('#') || l.chars().all(|c| matches!(c, '=' | '-' | '*' | '_')))))
        .collect();
    if is_md && body.is_empty() {
        return Some(format!("only headings ({size} bytes)"));
    }
    if !body.is_empty() && body.iter().all(|l| has_todo_word(l) && l.len() < 80) {
        return Some(format!("only TODO / placeholder text ({size} bytes)"));
    }
    // a small data or config file with content (`88.85` in `coverage_floor.txt`) is present
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(name: &str, s: &str) -> Option<String> {
        stub_reason(name, s.as_bytes(), s.len() as u64)
    }

    #[test]
    fn small_files_with_content_are_present() {
        // a coverage floor of 6 bytes is data, not a placeholder; 0 bytes of anything is a stub
        assert_eq!(reason("coverage_floor.txt", "88.85\n"), None);
        assert_eq!(reason("VERSION", "1.2\n"), None);
        assert_eq!(
            reason("x.rs", "fn f() {}\n").as_deref(),
            Some("declarations with empty bodies, no code (10 bytes)")
        );
        assert_eq!(reason("package.json", "").as_deref(), Some("empty file (0 bytes)"));
        assert_eq!(reason("data.csv", "").as_deref(), Some("empty file (0 bytes)"));
    }

    #[test]
    fn a_side_effect_import_is_code() {
        // a test setup file whose one line loads matchers for every test (issue 82, a BMAD v6
        // story's `frontend/test/setup.ts`): complete, not a stub; an import that only binds a
        // name does nothing by itself
        assert_eq!(reason("setup.ts", "import '@testing-library/jest-dom';\n"), None);
        assert_eq!(reason("polyfills.js", "import \"./shim\";\n"), None);
        assert!(reason("x.ts", "import { a } from './a';\n").is_some());
    }

    #[test]
    fn python() {
        assert_eq!(reason("a.py", "class A:\n    pass\n").as_deref(), Some("only `pass` placeholder (18 bytes)"));
        assert!(
            reason("a.py", "\"\"\"Alerts.\"\"\"\n\ndef send(x):\n    raise NotImplementedError\n")
                .unwrap()
                .contains("NotImplementedError")
        );
        assert!(reason("a.py", "# TODO: write this\n").unwrap().contains("TODO"));
        assert_eq!(reason("a.py", "def f(x):\n    return x * 2\n\n\ndef g(y):\n    return f(y) + 1\n"), None);
        assert_eq!(reason("__init__.py", ""), None);
        assert_eq!(reason("__init__.py", "\"\"\"The storage package.\"\"\"\n"), None);
        assert_eq!(reason("mod.rs", "//! CLI.\npub mod args;\npub mod run;\n"), None);
        assert!(reason("mod.rs", "pub fn run() {\n    todo!()\n}\n").is_some());
        assert!(reason("util.py", "\"\"\"Helpers.\"\"\"\n").is_some());
        assert_eq!(reason("x.py", "").as_deref(), Some("empty file (0 bytes)"));
    }

    #[test]
    fn rust_and_js() {
        assert!(reason("a.rs", "pub fn run() {\n    todo!()\n}\n").unwrap().contains("todo!()"));
        assert!(
            reason("a.rs", "pub fn run() -> u32 {\n    unimplemented!(\"later\")\n}\n")
                .unwrap()
                .contains("unimplemented!()")
        );
        assert_eq!(reason("a.rs", "pub fn run() -> u32 {\n    let x = 40;\n    x + 2\n}\n"), None);
        assert!(
            reason("a.ts", "export function f() {\n  throw new Error('Not implemented');\n}\n")
                .unwrap()
                .contains("not implemented")
        );
        assert!(reason("a.ts", "export function f() {\n}\n").unwrap().contains("empty bodies"));
    }

    #[test]
    fn documents() {
        assert!(reason("a.md", "# Title\n\n## Section\n").unwrap().contains("only headings"));
        assert!(reason("a.md", "# Title\n\nTODO\n").unwrap().contains("TODO"));
        assert_eq!(reason("a.md", "# Title\n\nThis documents the alert manager and its thresholds.\n"), None);
        assert!(reason("c.json", "{}").unwrap().contains("empty document"));
    }
}
