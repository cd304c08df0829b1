//! The architecture invariants of ARCHITECTURE.md, checked on the sources and the resolved
//! dependency graph (in the spirit of rust-analyzer's tidy tests): each test fails, naming the
//! file or the dependency path, when a crate or module reaches for what it must not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The engine crates and the only other workspace crates each may depend on.
const ENGINES: &[(&str, &[&str])] = &[
    ("zipp-clip", &[]),
    ("zipp-diffusion", &["zipp-clip"]),
    ("zipp-gat", &[]),
    ("zipp-llm", &[]),
];

/// What no engine may pull in, directly or transitively: Discord, the database, the async
/// runtime, HTTP clients, the bot.
const NOT_IN_ENGINES: &[&str] = &[
    "serenity",
    "poise",
    "sqlx",
    "sqlx-core",
    "tokio",
    "reqwest",
    "hf-hub",
    "zipp",
    "fake-discord",
];

/// The bot's modules by layer, bottom first: a module may use modules of lower layers only.
/// (`main.rs` and `persona_cli.rs` are the binary, above everything.)
const LAYERS: &[&[&str]] = &[
    &["ids", "text", "http_client", "llm"],
    &["i18n", "config", "domain"],
    &["error", "models", "upload"],
    &["store"],
    &["rewrite", "verbalize", "observe"],
    &["imagine", "ingest", "render", "lifecycle", "sweep"],
    &["consent"],
    &["discord"],
    &["app"],
];

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The file's code without comment lines (doc links may name any module).
fn code_of(path: &Path) -> String {
    std::fs::read_to_string(path)
        .expect("read source")
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `prefix` path segment that follows one of `prefixes` (`crate::store` → `store`).
fn referenced(code: &str, prefixes: &[&str]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for prefix in prefixes {
        let mut rest = code;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// The top-level module a source file of the bot belongs to (`src/store/jobs.rs` → `store`).
fn module_of(path: &Path) -> String {
    let rel = path
        .strip_prefix(Path::new(ROOT).join("src"))
        .expect("in src");
    let first = rel.components().next().expect("component");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_owned()
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

#[test]
fn every_bot_module_has_a_layer() {
    for path in rust_files(&Path::new(ROOT).join("src")) {
        let module = module_of(&path);
        if ["lib", "main", "persona_cli"].contains(&module.as_str()) {
            continue;
        }
        assert!(
            layer_of(&module).is_some(),
            "src/{module} is in no layer of tests/e2e/architecture.rs (add it, and to ARCHITECTURE.md)"
        );
    }
}

#[test]
fn bot_modules_import_only_lower_layers() {
    let mut violations = Vec::new();
    for path in rust_files(&Path::new(ROOT).join("src")) {
        let module = module_of(&path);
        let Some(own) = layer_of(&module) else {
            continue;
        };
        for used in referenced(&code_of(&path), &["crate::", "zipp::"]) {
            if used == module {
                continue;
            }
            match layer_of(&used) {
                Some(layer) if layer < own => {}
                Some(_) => violations.push(format!(
                    "{} uses crate::{used}, which is not below `{module}`",
                    path.display()
                )),
                None => {}
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

/// Files outside `allowed_dir` (relative to `src/`) whose code contains one of `needles`.
fn files_outside_with(allowed_dir: &str, needles: &[&str]) -> Vec<String> {
    let src = Path::new(ROOT).join("src");
    let allowed = src.join(allowed_dir);
    let mut found = Vec::new();
    for path in rust_files(&src) {
        if path.starts_with(&allowed) {
            continue;
        }
        let code = code_of(&path);
        for needle in needles {
            if !referenced(&code, &[needle]).is_empty() || code.contains(&format!("use {needle};"))
            {
                found.push(format!("{} names {needle}", path.display()));
            }
        }
    }
    found
}

#[test]
fn only_the_discord_layer_names_serenity_or_poise() {
    let found = files_outside_with("discord", &["serenity::", "poise::"]);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn only_the_store_holds_sql() {
    let mut found = files_outside_with("store", &["sqlx::"]);
    let src = Path::new(ROOT).join("src");
    let statements = [
        "\"SELECT ",
        "\"INSERT INTO",
        "\"UPDATE ",
        "\"DELETE FROM",
        "\"CREATE TABLE",
    ];
    for path in rust_files(&src) {
        if path.starts_with(src.join("store")) {
            continue;
        }
        let code = code_of(&path);
        for statement in statements {
            if code.contains(statement) {
                found.push(format!("{} holds SQL ({statement})", path.display()));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn engine_sources_name_no_bot_layer() {
    let mut found = Vec::new();
    for (engine, _) in ENGINES {
        for path in rust_files(&Path::new(ROOT).join("crates").join(engine)) {
            let code = code_of(&path);
            for needle in ["zipp::", "serenity::", "poise::", "sqlx::", "tokio::"] {
                if !referenced(&code, &[needle]).is_empty() {
                    found.push(format!("{} names {needle}", path.display()));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// The resolved normal (not dev, not build) dependency graph of the workspace, by package name.
fn normal_dependency_graph() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .current_dir(ROOT)
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&output.stdout).expect("metadata JSON");
    let names: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().expect("id"),
                p["name"].as_str().expect("name"),
            )
        })
        .collect();
    let mut graph = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().expect("resolve nodes") {
        let from = names[node["id"].as_str().expect("node id")].to_owned();
        let deps: &mut BTreeSet<String> = graph.entry(from).or_default();
        for dep in node["deps"].as_array().expect("deps") {
            let normal = dep["dep_kinds"]
                .as_array()
                .expect("dep_kinds")
                .iter()
                .any(|k| k["kind"].is_null());
            if normal {
                deps.insert(names[dep["pkg"].as_str().expect("pkg")].to_owned());
            }
        }
    }
    graph
}

#[test]
fn engines_depend_on_no_discord_database_runtime_or_bot() {
    let graph = normal_dependency_graph();
    let mut violations = Vec::new();
    for (engine, allowed) in ENGINES {
        assert!(
            graph.contains_key(*engine),
            "{engine} is not in the workspace"
        );
        // Breadth-first over the engine's normal dependencies, remembering one path to each.
        let mut path_to: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut queue = vec![vec![(*engine).to_owned()]];
        while let Some(path) = queue.pop() {
            let last = path.last().expect("non-empty").clone();
            for dep in graph.get(&last).into_iter().flatten() {
                if path_to.contains_key(dep) {
                    continue;
                }
                let mut next = path.clone();
                next.push(dep.clone());
                path_to.insert(dep.clone(), next.clone());
                queue.push(next);
            }
        }
        for (dep, path) in &path_to {
            let workspace_crate = dep.starts_with("zipp");
            if NOT_IN_ENGINES.contains(&dep.as_str())
                || (workspace_crate && !allowed.contains(&dep.as_str()))
            {
                violations.push(format!("{engine} reaches {dep}: {}", path.join(" → ")));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    let mut missing = Vec::new();
    let mut roots = vec![Path::new(ROOT).join("src")];
    for (engine, _) in ENGINES {
        roots.push(Path::new(ROOT).join("crates").join(engine).join("src"));
    }
    for root in roots {
        for path in rust_files(&root) {
            let text = std::fs::read_to_string(&path).expect("read");
            if !text.starts_with("//!") {
                missing.push(path.display().to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "files without a `//!` header:\n{}",
        missing.join("\n")
    );
}

/// The checker itself: a planted violation is found (so a passing run means something).
#[test]
fn the_checks_find_what_they_look_for() {
    let code = "use crate::store::Store;\n// crate::discord in a comment\nlet x = sqlx::query(\"SELECT 1\");";
    let used = referenced(code, &["crate::"]);
    assert!(used.contains("store"));
    assert!(used.contains("discord"), "the raw scan sees comments");
    assert!(!referenced(code, &["sqlx::"]).is_empty());
    assert!(referenced("my_sqlx::x", &["sqlx::"]).is_empty());
    assert!(layer_of("store") < layer_of("discord"));
}
