//! Old key names that are still accepted, and the one place they are turned into the
//! current ones: each configuration source (the file, the environment, the flags) is
//! rewritten to current names *before* the layers merge.
//!
//! Why not `#[serde(alias)]`: serde sees the merged layers, so a file setting
//! `batcher.linger_ms` and an environment setting `OFFERD_BATCHER__FLUSH_INTERVAL_MS`
//! arrive as two fields and fail with "duplicate field `linger_ms`", instead of the
//! environment winning. Renamed per source, the later layer overrides the earlier one
//! whatever name either uses. Within one source, both names at once is an error.

use config::{Map, Source, Value, ValueKind};

/// `(old, current)` dotted keys. The only list of aliases: a test fails if a
/// `serde(alias)` appears in `src/config.rs` instead.
pub const ALIASES: &[(&str, &str)] = &[("batcher.flush_interval_ms", "batcher.linger_ms")];

/// The current name of a dotted key (the key itself when it is no alias).
pub fn current_name(key: &str) -> &str {
    ALIASES
        .iter()
        .find(|(old, _)| old.eq_ignore_ascii_case(key))
        .map_or(key, |(_, new)| new)
}

/// A source whose keys are renamed to their current names when collected.
#[derive(Debug, Clone)]
pub struct Renamed<S>(pub S);

impl<S> Source for Renamed<S>
where
    S: Source + Clone + Send + Sync + 'static,
{
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, config::ConfigError> {
        rename(self.0.collect()?)
    }
}

/// Renames alias keys in `map`, whether flat (`batcher.flush_interval_ms`, as the
/// environment gives them) or nested (`batcher` → `flush_interval_ms`, as a file does).
fn rename(map: Map<String, Value>) -> Result<Map<String, Value>, config::ConfigError> {
    let mut out = Map::new();
    for (key, mut value) in map {
        if let ValueKind::Table(table) = &mut value.kind {
            let nested = std::mem::take(table);
            *table = rename_in_section(&key, nested)?;
        }
        let current = current_name(&key).to_owned();
        insert_once(&mut out, current.clone(), (&key, &current), value)?;
    }
    Ok(out)
}

fn rename_in_section(
    section: &str,
    table: Map<String, Value>,
) -> Result<Map<String, Value>, config::ConfigError> {
    let mut out = Map::new();
    for (key, value) in table {
        let dotted = format!("{section}.{key}");
        let current = current_name(&dotted);
        let name = current
            .strip_prefix(section)
            .and_then(|k| k.strip_prefix('.'))
            .unwrap_or(&key)
            .to_owned();
        insert_once(&mut out, name, (&dotted, current), value)?;
    }
    Ok(out)
}

/// Inserts `value` under `name`; an entry already there means one source set a key
/// under both its names, which has no meaning to pick.
fn insert_once(
    out: &mut Map<String, Value>,
    name: String,
    (given, current): (&str, &str),
    value: Value,
) -> Result<(), config::ConfigError> {
    if out.contains_key(&name) {
        let old = ALIASES
            .iter()
            .filter(|(_, new)| new.eq_ignore_ascii_case(current))
            .map(|(old, _)| *old)
            .collect::<Vec<_>>()
            .join(", ");
        return Err(config::ConfigError::Message(format!(
            "{current} is set twice in one place (as {given}; old names: {old}); keep one"
        )));
    }
    out.insert(name, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_serde_alias_bypasses_the_table() {
        // A serde alias would bring back "duplicate field" across layers.
        let source = include_str!("../config.rs");
        let marker = ["serde(", "alias"].concat();
        assert!(
            !source.contains(&marker),
            "src/config.rs uses a serde alias: add it to ALIASES instead"
        );
    }

    #[test]
    fn every_alias_names_a_current_key() {
        let value = serde_json::to_value(crate::config::Config::default()).expect("serializes");
        for (old, new) in ALIASES {
            let (section, key) = new.split_once('.').expect("dotted");
            assert!(value[section].get(key).is_some(), "{new} is no key");
            let (old_section, _) = old.split_once('.').expect("dotted");
            assert_eq!(old_section, section, "an alias stays in its section");
            assert_eq!(current_name(old), *new);
        }
    }
}
