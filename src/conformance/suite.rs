//! Loading of a conformance suite folder (`models/*.json` suites plus
//! `artifacts/NAME.json` artifacts) into ready-to-run [`Case`]s.
//!
//! Hydrates artifact names, applies the case-over-suite replacement of `conf` and
//! `artifact`, and converts `mockDate` to epoch milliseconds the way JavaScript's
//! `Date.UTC` does. Used by the runner and by whoever drives the engine per case.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Milliseconds per day.
const DAY_MS: i128 = 86_400_000;

/// Largest magnitude of a JavaScript time value (ECMAScript TimeClip); beyond it
/// `Date.UTC` yields NaN, which no runner could use as "now".
const MAX_TIME_MS: i128 = 8_640_000_000_000_000;

/// One suite file: a group of cases sharing defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    /// File stem of the suite file, e.g. `TEST_SUITE_AB_SIMPLE`.
    pub name: String,
    /// The suite's `description` (empty if absent).
    pub description: String,
    /// The suite's cases, in file order.
    pub cases: Vec<Case>,
}

/// One case with the suite defaults already applied and artifacts hydrated.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Name of the suite the case belongs to.
    pub suite: String,
    /// Key of the case inside the suite's `test` map.
    pub key: String,
    /// The case's `description` (empty if absent).
    pub description: String,
    /// Client configuration: the case's `conf`, else the suite's, else `{}`.
    pub conf: Value,
    /// What the artifact download returns: the case's `artifact`, else the suite's.
    /// Normally a hydrated object; a name without a matching file stays a string.
    pub artifact: Option<Value>,
    /// The get-offers input (`request`, `targetCookie`, `sessionId`, ...).
    pub input: Value,
    /// Expected engine response (checked with "contains" semantics), if any.
    pub output: Option<Value>,
    /// What is expected of the notification requests the engine sends.
    pub notification_output: NotificationExpectation,
    /// Fixed "now" in epoch milliseconds UTC, from `mockDate`.
    pub mock_date_ms: Option<i64>,
    /// What the geo lookup returns for the request's IP, from `mockGeo`.
    pub mock_geo: Option<Value>,
}

/// Expectation on the notification requests sent while running a case.
#[derive(Debug, Clone, PartialEq)]
pub enum NotificationExpectation {
    /// `notificationOutput` absent: notifications are not looked at.
    Unchecked,
    /// `notificationOutput: null`: no notification request may be sent.
    NoneSent,
    /// Exactly one notification request must be sent and contain this value.
    Contains(Value),
}

/// Why a suite folder could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The folder or its `models/` subfolder does not exist.
    #[error(
        "conformance suite not found: looked for a `models/` folder in {}; the suite is \
         published on GitHub as adobe/target-sdk-testing (use its `schema/` folder)",
        path.display()
    )]
    MissingFolder {
        /// The folder that was searched.
        path: PathBuf,
    },
    /// `models/` holds no suite file, so nothing would be checked.
    #[error("no suite files (*.json) in {}", path.display())]
    NoSuites {
        /// The `models/` folder.
        path: PathBuf,
    },
    /// A file or folder could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid JSON.
    #[error("invalid JSON in {}: {source}", path.display())]
    BadJson {
        /// The file.
        path: PathBuf,
        /// The parse error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// Valid JSON that does not have the shape of a suite or case.
    #[error("malformed {location}: {problem}")]
    Malformed {
        /// Where: suite file, case key and field.
        location: String,
        /// What is wrong.
        problem: String,
    },
}

/// Loads every suite (`models/*.json`, sorted by file name) of a suite folder,
/// hydrating `artifact` names from `artifacts/`.
pub fn load_suites(dir: &Path) -> Result<Vec<Suite>, SuiteError> {
    let models = dir.join("models");
    if !models.is_dir() {
        return Err(SuiteError::MissingFolder {
            path: dir.to_path_buf(),
        });
    }
    let files = suite_files(&models)?;
    if files.is_empty() {
        return Err(SuiteError::NoSuites { path: models });
    }
    let mut artifacts = ArtifactFiles::new(dir.join("artifacts"));
    files
        .iter()
        .map(|file| load_suite(file, &mut artifacts))
        .collect()
}

/// Converts a `mockDate` object (`year`, zero-based `month`, `date`, optional `hours`,
/// `minutes`, `seconds`) to epoch milliseconds UTC, exactly like JavaScript's
/// `Date.UTC`, including its roll-over of out-of-range fields.
pub fn mock_date_to_millis(value: &Value) -> Result<i64, SuiteError> {
    mock_date_ms(value).map_err(|problem| malformed("mockDate", problem))
}

fn mock_date_ms(value: &Value) -> Result<i64, String> {
    let obj = value
        .as_object()
        .ok_or_else(|| format!("expected an object, found {value}"))?;
    let mut year = date_field(obj, "year", true)?;
    // Date.UTC reads years 0..=99 as 1900..=1999.
    if (0..=99).contains(&year) {
        year += 1900;
    }
    let month = date_field(obj, "month", true)?;
    let day = date_field(obj, "date", true)?;
    let hours = date_field(obj, "hours", false)?;
    let minutes = date_field(obj, "minutes", false)?;
    let seconds = date_field(obj, "seconds", false)?;

    let days = days_from_civil(year + month.div_euclid(12), month.rem_euclid(12) + 1) + day - 1;
    let ms = days * DAY_MS + hours * 3_600_000 + minutes * 60_000 + seconds * 1_000;
    if ms.abs() > MAX_TIME_MS {
        return Err(format!("{value} is outside the range of a JavaScript date"));
    }
    i64::try_from(ms).map_err(|_| format!("{value} is out of range"))
}

/// Reads one integer field; wide `i128` keeps the later arithmetic overflow-free.
fn date_field(obj: &Map<String, Value>, name: &str, required: bool) -> Result<i128, String> {
    match obj.get(name) {
        None | Some(Value::Null) if !required => Ok(0),
        None | Some(Value::Null) => Err(format!("`{name}` is missing")),
        Some(value) => integer(value).ok_or_else(|| {
            format!("`{name}` must be an integer below 1e15 in magnitude, found {value}")
        }),
    }
}

fn integer(value: &Value) -> Option<i128> {
    let limit = 1e15;
    if let Some(i) = value.as_i64() {
        return (i.unsigned_abs() < limit as u64).then_some(i128::from(i));
    }
    let f = value.as_f64()?;
    (f.fract() == 0.0 && f.abs() < limit).then_some(f as i128)
}

/// Days since 1970-01-01 of the first day of `month` (1-based) of `year`, in the
/// proleptic Gregorian calendar (H. Hinnant's civil-from-days inverse).
fn days_from_civil(year: i128, month: i128) -> i128 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn suite_files(models: &Path) -> Result<Vec<PathBuf>, SuiteError> {
    let unreadable = |source| SuiteError::Unreadable {
        path: models.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in fs::read_dir(models).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        if path.is_file() && path.extension().is_some_and(|ext| ext == "json") {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

fn read_json(path: &Path) -> Result<Value, SuiteError> {
    let text = fs::read_to_string(path).map_err(|source| SuiteError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| SuiteError::BadJson {
        path: path.to_path_buf(),
        source,
    })
}

/// Artifact files by name, each read at most once since most suites share a few.
struct ArtifactFiles {
    dir: PathBuf,
    cache: HashMap<String, Option<Value>>,
}

impl ArtifactFiles {
    fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            cache: HashMap::new(),
        }
    }

    /// The parsed `NAME.json`, or `None` when no such file exists.
    fn get(&mut self, name: &str) -> Result<Option<Value>, SuiteError> {
        if let Some(cached) = self.cache.get(name) {
            return Ok(cached.clone());
        }
        let path = self.dir.join(format!("{name}.json"));
        let artifact = if path.is_file() {
            Some(read_json(&path)?)
        } else {
            None
        };
        self.cache.insert(name.to_string(), artifact.clone());
        Ok(artifact)
    }
}

/// Replaces, anywhere in `value`, a string under an `artifact` key by the artifact
/// file of that name. Hydrated artifacts are not walked again.
fn hydrate(value: &mut Value, artifacts: &mut ArtifactFiles) -> Result<(), SuiteError> {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if key == "artifact"
                    && let Value::String(name) = child
                {
                    if let Some(artifact) = artifacts.get(name)? {
                        *child = artifact;
                    }
                    continue;
                }
                hydrate(child, artifacts)?;
            }
        }
        Value::Array(items) => {
            for item in items {
                hydrate(item, artifacts)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn load_suite(path: &Path, artifacts: &mut ArtifactFiles) -> Result<Suite, SuiteError> {
    let mut root = read_json(path)?;
    hydrate(&mut root, artifacts)?;
    let name = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    parse_suite(name, root)
}

/// Suite-level values every case falls back to.
struct Defaults<'a> {
    suite: &'a str,
    conf: Option<&'a Value>,
    artifact: Option<&'a Value>,
}

fn parse_suite(name: String, root: Value) -> Result<Suite, SuiteError> {
    let Value::Object(mut root) = root else {
        return Err(malformed(&name, "the top level must be a JSON object"));
    };
    let description = optional_string(&root, "description", &name)?;
    let tests = match root.remove("test") {
        Some(Value::Object(tests)) => tests,
        Some(_) => return Err(malformed(&name, "`test` must be an object of cases")),
        None => return Err(malformed(&name, "`test` is missing")),
    };
    let defaults = Defaults {
        suite: &name,
        conf: root.get("conf"),
        artifact: root.get("artifact"),
    };
    let cases = tests
        .into_iter()
        .map(|(key, case)| parse_case(&defaults, key, case))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Suite {
        name,
        description,
        cases,
    })
}

fn parse_case(defaults: &Defaults<'_>, key: String, case: Value) -> Result<Case, SuiteError> {
    let at = format!("{}, case `{key}`", defaults.suite);
    let Value::Object(mut obj) = case else {
        return Err(malformed(&at, "a case must be a JSON object"));
    };
    let description = optional_string(&obj, "description", &at)?;
    let input = obj
        .remove("input")
        .ok_or_else(|| malformed(&at, "`input` is missing"))?;
    // The case's value replaces the suite's wholesale; the two are never merged.
    let conf = match obj.remove("conf").or_else(|| defaults.conf.cloned()) {
        None => Value::Object(Map::new()),
        Some(conf @ Value::Object(_)) => conf,
        Some(other) => {
            return Err(malformed(
                &at,
                format!("`conf` must be an object, found {other}"),
            ));
        }
    };
    let artifact = obj
        .remove("artifact")
        .or_else(|| defaults.artifact.cloned());
    let mock_date_ms = match obj.get("mockDate") {
        None | Some(Value::Null) => None,
        Some(date) => {
            Some(mock_date_ms(date).map_err(|p| malformed(&format!("{at}, mockDate"), p))?)
        }
    };
    Ok(Case {
        suite: defaults.suite.to_string(),
        key,
        description,
        conf,
        artifact,
        input,
        output: obj.remove("output"),
        notification_output: notification_expectation(obj.remove("notificationOutput"), &at)?,
        mock_date_ms,
        mock_geo: mock_geo(obj.remove("mockGeo"), &at)?,
    })
}

fn notification_expectation(
    value: Option<Value>,
    at: &str,
) -> Result<NotificationExpectation, SuiteError> {
    match value {
        None => Ok(NotificationExpectation::Unchecked),
        Some(Value::Null) => Ok(NotificationExpectation::NoneSent),
        Some(expected @ Value::Object(_)) => Ok(NotificationExpectation::Contains(expected)),
        Some(other) => Err(malformed(
            at,
            format!("`notificationOutput` must be an object or null, found {other}"),
        )),
    }
}

fn mock_geo(value: Option<Value>, at: &str) -> Result<Option<Value>, SuiteError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(geo @ Value::Object(_)) => Ok(Some(geo)),
        Some(other) => Err(malformed(
            at,
            format!("`mockGeo` must be an object, found {other}"),
        )),
    }
}

fn optional_string(obj: &Map<String, Value>, key: &str, at: &str) -> Result<String, SuiteError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(other) => Err(malformed(
            at,
            format!("`{key}` must be a string, found {other}"),
        )),
    }
}

fn malformed(location: &str, problem: impl Into<String>) -> SuiteError {
    SuiteError::Malformed {
        location: location.to_string(),
        problem: problem.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A scratch suite folder under the system temp dir, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("offerd-conformance-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(dir.join("models")).unwrap();
            fs::create_dir_all(dir.join("artifacts")).unwrap();
            Scratch(dir)
        }

        fn write(&self, rel: &str, text: &str) {
            fs::write(self.0.join(rel), text).unwrap();
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn ms(date: Value) -> i64 {
        mock_date_to_millis(&date).unwrap()
    }

    #[test]
    fn mock_date_matches_js_date_utc() {
        let example = json!({"year": 2020, "month": 2, "date": 25, "hours": 1, "minutes": 5});
        assert_eq!(ms(example), 1_585_098_300_000);
        assert_eq!(ms(json!({"year": 1970, "month": 0, "date": 1})), 0);
        // Leap day; extra keys such as the suite's `human` are ignored.
        let leap = json!({"year": 2020, "month": 1, "date": 29, "human": "x"});
        assert_eq!(ms(leap), 1_582_934_400_000);
        let full = json!({"year": 2021, "month": 1, "date": 11, "hours": 19, "seconds": 7});
        assert_eq!(ms(full), 1_613_070_007_000);
        assert_eq!(
            ms(json!({"year": 1969, "month": 11, "date": 31})),
            -86_400_000
        );
        assert_eq!(
            ms(json!({"year": 2020.0, "month": 2, "date": 25})),
            1_585_094_400_000
        );
    }

    #[test]
    fn mock_date_rolls_over_like_js() {
        let overflow = json!({"year": 2019, "month": 12, "date": 1});
        assert_eq!(
            ms(overflow),
            ms(json!({"year": 2020, "month": 0, "date": 1}))
        );
        let negative = json!({"year": 2020, "month": -1, "date": 1});
        assert_eq!(
            ms(negative),
            ms(json!({"year": 2019, "month": 11, "date": 1}))
        );
        let day_zero = json!({"year": 2020, "month": 2, "date": 0});
        assert_eq!(
            ms(day_zero),
            ms(json!({"year": 2020, "month": 1, "date": 29}))
        );
        let hours = json!({"year": 2020, "month": 0, "date": 1, "hours": 25});
        assert_eq!(
            ms(hours),
            ms(json!({"year": 2020, "month": 0, "date": 2, "hours": 1}))
        );
        // Two-digit years are 19xx in Date.UTC.
        assert_eq!(ms(json!({"year": 70, "month": 0, "date": 1})), 0);
    }

    #[test]
    fn mock_date_rejects_odd_values() {
        let bad = [
            json!("2020-03-25"),
            json!(null),
            json!({"month": 2, "date": 25}),
            json!({"year": 2020, "date": 25}),
            json!({"year": 2020, "month": 2}),
            json!({"year": 2020, "month": 2.5, "date": 1}),
            json!({"year": "2020", "month": 2, "date": 1}),
            json!({"year": 2020, "month": 2, "date": 1, "hours": true}),
            json!({"year": 300000, "month": 0, "date": 1}),
            json!({"year": i64::MAX, "month": 0, "date": 1}),
            json!({"year": 1e300, "month": 0, "date": 1}),
            json!({"year": 2020, "month": 0, "date": 1, "seconds": -9e14}),
        ];
        for date in bad {
            let err = mock_date_to_millis(&date).unwrap_err();
            assert!(matches!(err, SuiteError::Malformed { .. }), "{date}: {err}");
        }
    }

    const SUITE_B: &str = r#"{
        "description": "second",
        "artifact": "ART_ONE",
        "conf": {"client": "c", "organizationId": "o"},
        "test": {
            "zeta": {"description": "uses defaults", "input": {"request": {}}, "output": {"a": 1}},
            "alpha": {
                "description": "overrides",
                "conf": {"client": "other"},
                "artifact": "ART_TWO",
                "input": {"nested": [{"artifact": "ART_ONE"}, {"artifact": "NOPE"}]},
                "notificationOutput": null,
                "mockDate": {"year": 2020, "month": 2, "date": 25, "hours": 1, "minutes": 5},
                "mockGeo": {"city": "X"}
            },
            "mid": {"input": {}, "notificationOutput": {"request": {}}, "artifact": "NOPE"}
        }
    }"#;

    fn scratch_with_suites() -> Scratch {
        let scratch = Scratch::new();
        scratch.write("models/B_SUITE.json", SUITE_B);
        scratch.write(
            "models/A_SUITE.json",
            r#"{"description": "first", "test": {"only": {"input": 1}}}"#,
        );
        scratch.write("models/notes.txt", "not a suite");
        scratch.write("artifacts/ART_ONE.json", r#"{"version": "1.0.0", "id": 1}"#);
        scratch.write("artifacts/ART_TWO.json", r#"{"version": "1.0.0", "id": 2}"#);
        scratch
    }

    #[test]
    fn loads_sorted_suites_and_cases_in_file_order() {
        let scratch = scratch_with_suites();
        let suites = load_suites(&scratch.0).unwrap();
        let names: Vec<&str> = suites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["A_SUITE", "B_SUITE"]);
        let keys: Vec<&str> = suites[1].cases.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["zeta", "alpha", "mid"]);
        assert_eq!(suites[1].description, "second");
        let only = &suites[0].cases[0];
        assert_eq!(
            (only.conf.clone(), only.artifact.clone()),
            (json!({}), None)
        );
        assert_eq!(only.description, "");
        assert_eq!(only.suite, "A_SUITE");
    }

    #[test]
    fn hydrates_and_applies_suite_defaults() {
        let scratch = scratch_with_suites();
        let suites = load_suites(&scratch.0).unwrap();
        let [zeta, alpha, mid] = &suites[1].cases[..] else {
            panic!("expected three cases");
        };
        assert_eq!(zeta.artifact, Some(json!({"version": "1.0.0", "id": 1})));
        assert_eq!(zeta.conf, json!({"client": "c", "organizationId": "o"}));
        assert_eq!(zeta.output, Some(json!({"a": 1})));
        assert_eq!(zeta.notification_output, NotificationExpectation::Unchecked);
        assert_eq!((zeta.mock_date_ms, zeta.mock_geo.clone()), (None, None));

        // Replacement, not merge: no organizationId from the suite.
        assert_eq!(alpha.conf, json!({"client": "other"}));
        assert_eq!(alpha.artifact, Some(json!({"version": "1.0.0", "id": 2})));
        let nested = json!([{"artifact": {"version": "1.0.0", "id": 1}}, {"artifact": "NOPE"}]);
        assert_eq!(alpha.input["nested"], nested);
        assert_eq!(alpha.notification_output, NotificationExpectation::NoneSent);
        assert_eq!(alpha.mock_date_ms, Some(1_585_098_300_000));
        assert_eq!(alpha.mock_geo, Some(json!({"city": "X"})));
        assert_eq!(alpha.output, None);

        assert_eq!(mid.artifact, Some(json!("NOPE")));
        let expected = NotificationExpectation::Contains(json!({"request": {}}));
        assert_eq!(mid.notification_output, expected);
    }

    #[test]
    fn missing_folder_points_to_github() {
        let scratch = Scratch::new();
        let dir = scratch.0.join("absent");
        let err = load_suites(&dir).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, SuiteError::MissingFolder { .. }));
        assert!(text.contains("adobe/target-sdk-testing"), "{text}");
        assert!(text.contains(&dir.display().to_string()), "{text}");
    }

    #[test]
    fn empty_models_folder_is_an_error() {
        let scratch = Scratch::new();
        let err = load_suites(&scratch.0).unwrap_err();
        assert!(matches!(err, SuiteError::NoSuites { .. }), "{err}");
    }

    #[test]
    fn bad_json_names_the_file() {
        let scratch = scratch_with_suites();
        scratch.write("artifacts/ART_TWO.json", "{ nope");
        let err = load_suites(&scratch.0).unwrap_err();
        assert!(matches!(err, SuiteError::BadJson { .. }));
        assert!(err.to_string().contains("ART_TWO.json"), "{err}");
    }

    #[test]
    fn malformed_cases_say_where() {
        let bad = [
            (r#"[]"#, "BAD"),
            (r#"{"description": "d"}"#, "`test` is missing"),
            (r#"{"test": []}"#, "`test` must be"),
            (r#"{"test": {"k": 3}}"#, "case `k`"),
            (r#"{"test": {"k": {}}}"#, "`input` is missing"),
            (r#"{"test": {"k": {"input": {}, "conf": 1}}}"#, "`conf`"),
            (
                r#"{"test": {"k": {"input": {}, "notificationOutput": 1}}}"#,
                "notificationOutput",
            ),
            (
                r#"{"test": {"k": {"input": {}, "mockGeo": []}}}"#,
                "mockGeo",
            ),
            (
                r#"{"test": {"k": {"input": {}, "mockDate": {"year": 1}}}}"#,
                "case `k`, mockDate",
            ),
            (
                r#"{"test": {"k": {"input": {}, "description": 5}}}"#,
                "description",
            ),
        ];
        for (text, needle) in bad {
            let scratch = Scratch::new();
            scratch.write("models/BAD.json", text);
            let err = load_suites(&scratch.0).unwrap_err();
            let message = err.to_string();
            assert!(matches!(err, SuiteError::Malformed { .. }), "{message}");
            assert!(message.contains(needle), "{text}: {message}");
            assert!(message.contains("BAD"), "{message}");
        }
    }

    #[test]
    fn loads_the_published_suite() {
        let dir = testkit::shared::suite_dir();
        let suites = load_suites(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(suites.len(), 18);
        let cases: Vec<&Case> = suites.iter().flat_map(|s| &s.cases).collect();
        assert_eq!(cases.len(), 66);
        for case in cases {
            let named = case.artifact.is_some();
            assert!(named, "{}/{} has no artifact", case.suite, case.key);
            let artifact = case.artifact.as_ref().unwrap();
            assert!(
                artifact.is_object(),
                "{}/{} not hydrated",
                case.suite,
                case.key
            );
        }
    }
}
