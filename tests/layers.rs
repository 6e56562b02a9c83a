//! The layers of `src/`, lowest first, and a check that every `crate::` path in a
//! module points to its own layer's modules or lower ones: an import that goes back
//! up (say `actors` reaching into `client`) fails here, naming the file and the line.
//! `src/lib.rs`'s map draws the same table.

use std::path::{Path, PathBuf};

/// Lowest first. A module may use modules of lower layers, and its own.
const LAYERS: &[&[&str]] = &[
    &["model", "warn_every", "logging", "metrics", "clock"],
    &["config"],
    &["engine", "otel"],
    &["sdk", "store", "upstream"],
    &["notify", "artifact_backup", "explorer"],
    &["actors"],
    &["client"],
    &["ofrep"],
    &["http", "conformance"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The top-level modules a source names as `crate::x` or `crate::{x, y::z}`, with
/// the line they are on; comments are skipped.
fn crate_paths(source: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let code: Vec<(usize, &str)> = source
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .collect();
    let text: String = code.iter().map(|(_, l)| format!("{l}\n")).collect();
    let line_at = |offset: usize| code[text[..offset].matches('\n').count()].0 + 1;
    let mut rest = 0;
    while let Some(at) = text[rest..].find("crate::") {
        let start = rest + at + "crate::".len();
        rest = start;
        // `offerd_crate::x` or `$crate::x` are not paths of this crate.
        let before = text[..start - "crate::".len()].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if text[start..].starts_with('{') {
            let mut depth = 0;
            let mut name = String::new();
            let mut name_at = start;
            let mut at_name = true;
            for (i, c) in text[start..].char_indices() {
                match c {
                    '{' => {
                        depth += 1;
                        at_name = depth == 1;
                    }
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => at_name = true,
                    c if at_name && (c.is_alphanumeric() || c == '_') => {
                        if name.is_empty() {
                            name_at = start + i;
                        }
                        name.push(c);
                    }
                    _ => {
                        if !name.is_empty() {
                            found.push((line_at(name_at), std::mem::take(&mut name)));
                        }
                        if !c.is_whitespace() {
                            at_name = false;
                        }
                    }
                }
            }
        } else {
            let name: String = text[start..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push((line_at(start), name));
        }
    }
    found
}

/// Every way `module`'s file at `path` (`source`) reaches above its layer.
fn violations(module: &str, path: &str, source: &str) -> Vec<String> {
    let Some(own) = layer_of(module) else {
        return vec![format!(
            "{path}: module `{module}` is in no layer of LAYERS"
        )];
    };
    crate_paths(source)
        .into_iter()
        .filter(|(_, used)| used != module && used != "self" && used != "super")
        .filter_map(|(line, used)| match layer_of(&used) {
            Some(layer) if layer < own => None,
            Some(_) => Some(format!(
                "{path}:{line}: `{module}` uses `crate::{used}`, which is not below it"
            )),
            None => Some(format!(
                "{path}:{line}: `crate::{used}` is in no layer of LAYERS"
            )),
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_import_points_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut broken = Vec::new();
    let mut modules = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = top.trim_end_matches(".rs");
        // The crate root and the binary sit above every layer.
        if module == "lib" || module == "main" {
            continue;
        }
        modules += 1;
        let source = std::fs::read_to_string(file).unwrap();
        broken.extend(violations(module, &relative.display().to_string(), &source));
    }
    assert!(
        modules > 50,
        "read only {modules} files under {}",
        src.display()
    );
    assert!(
        broken.is_empty(),
        "imports that go back up:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_import_that_went_back_up_is_caught() {
    // actors/decision.rs before the SDK contract moved to `sdk`.
    let source = "use crate::config::Config;\nuse crate::client::on_device::{self, OnDevice};\n";
    let found = violations("actors", "actors/decision.rs", source);
    assert_eq!(
        found,
        ["actors/decision.rs:2: `actors` uses `crate::client`, which is not below it"]
    );
}

#[test]
fn grouped_and_inline_paths_are_read() {
    let source = "// crate::http in a comment\nuse crate::{\n    engine::X,\n    model::{A, B},\n};\nfn f() { crate::metrics::now(); }\n";
    let names: Vec<String> = crate_paths(source).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["engine", "model", "metrics"]);
    assert_eq!(
        violations("config", "config.rs", source),
        ["config.rs:3: `config` uses `crate::engine`, which is not below it"]
    );
}
