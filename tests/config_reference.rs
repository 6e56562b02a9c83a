//! The configuration reference stays true: `config.toml` documents every key offerd
//! reads (the key, its default, a comment saying what it does), and
//! `docs/configuration.md` is the table made from it (key, environment variable,
//! default, meaning). Rewrite the table with `OFFERD_UPDATE_DOCS=1 cargo test --test
//! config_reference`.

use std::collections::BTreeSet;
use std::path::Path;

use offerd::config::Config;
use serde_json::Value;

fn repo(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `section.key` for every field of the configuration.
fn keys_of_config() -> BTreeSet<String> {
    let value = serde_json::to_value(Config::default()).expect("config serializes");
    let mut keys = BTreeSet::new();
    for (section, fields) in value.as_object().expect("sections") {
        for key in fields.as_object().expect("fields").keys() {
            keys.insert(format!("{section}.{key}"));
        }
    }
    keys
}

/// One documented key of config.toml.
struct Entry {
    key: String,
    default: String,
    meaning: String,
    /// Commented out in config.toml: unset by default, the value is an example.
    example: bool,
}

/// Reads `key = value   # meaning` lines (also commented out: `# key = value # ...`),
/// with comment-only lines below one continuing its meaning.
fn entries_of_config_toml(text: &str) -> Vec<Entry> {
    let mut section = String::new();
    let mut entries: Vec<Entry> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(header) = trimmed.strip_prefix('[') {
            section = header.split(']').next().unwrap_or_default().to_owned();
            continue;
        }
        let (code, comment) = split_comment(trimmed.trim_start_matches('#').trim());
        match code.split_once('=') {
            Some((key, value)) if !section.is_empty() && is_key(key.trim()) => {
                entries.push(Entry {
                    key: format!("{section}.{}", key.trim()),
                    default: value.trim().to_owned(),
                    meaning: comment.to_owned(),
                    example: trimmed.starts_with('#'),
                });
            }
            _ if trimmed.starts_with('#') && line.starts_with(' ') => {
                if let Some(last) = entries.last_mut() {
                    last.meaning.push(' ');
                    last.meaning
                        .push_str(trimmed.trim_start_matches('#').trim());
                }
            }
            _ => {}
        }
    }
    entries
}

fn split_comment(line: &str) -> (&str, &str) {
    match line.split_once(" #") {
        Some((code, comment)) => (code.trim(), comment.trim()),
        None => (line.trim(), ""),
    }
}

fn is_key(word: &str) -> bool {
    !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn table(entries: &[Entry]) -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         Made from `config.toml` by `tests/config_reference.rs` (which fails when they \
         differ). Set a key in the file, or as the environment variable, or (some) by a flag \
         (`offerd --help`). `OFFERD_CONFIG` names the file.\n\n\
         | key | environment variable | default | meaning |\n|---|---|---|---|\n",
    );
    for e in entries {
        let (section, key) = e.key.split_once('.').unwrap_or_default();
        let env = format!("OFFERD_{}__{}", section.to_uppercase(), key.to_uppercase());
        let value = format!("`{}`", e.default.replace('|', "\\|"));
        let default = if e.example {
            format!("unset (e.g. {value})")
        } else {
            value
        };
        let meaning = e.meaning.replace('|', "\\|");
        out.push_str(&format!(
            "| `{}` | `{env}` | {default} | {meaning} |\n",
            e.key
        ));
    }
    out
}

#[test]
fn config_toml_documents_every_key() {
    let entries = entries_of_config_toml(&repo("config.toml"));
    let documented: BTreeSet<String> = entries.iter().map(|e| e.key.clone()).collect();
    let missing: Vec<_> = keys_of_config().difference(&documented).cloned().collect();
    assert!(
        missing.is_empty(),
        "config.toml does not document {missing:?}"
    );
    let unknown: Vec<_> = documented.difference(&keys_of_config()).cloned().collect();
    assert!(
        unknown.is_empty(),
        "config.toml documents keys offerd does not read: {unknown:?}"
    );
    let silent: Vec<_> = entries
        .iter()
        .filter(|e| e.meaning.is_empty())
        .map(|e| &e.key)
        .collect();
    assert!(
        silent.is_empty(),
        "keys without a comment in config.toml: {silent:?}"
    );
}

#[test]
fn the_reference_table_matches_config_toml() {
    let expected = table(&entries_of_config_toml(&repo("config.toml")));
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
    if std::env::var_os("OFFERD_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &expected).expect("write docs/configuration.md");
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/configuration.md is out of date: run OFFERD_UPDATE_DOCS=1 cargo test --test config_reference"
    );
}

#[test]
fn defaults_in_config_toml_are_the_built_in_ones() {
    let text = repo("config.toml");
    let from_file: Value = {
        let config = offerd::config::load(
            Some(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml")),
            true,
            &Default::default(),
            &[],
        )
        .expect("config.toml loads");
        serde_json::to_value(config).unwrap()
    };
    let built_in = serde_json::to_value(Config::default()).unwrap();
    assert_eq!(
        from_file, built_in,
        "config.toml must state the defaults:\n{text}"
    );
}
