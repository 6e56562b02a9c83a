//! The reference material beside the repository, `../shared`: Adobe's cross-SDK
//! conformance suite and a real customer artifact. Found one way, here, and never
//! skipped: a test that needs it and cannot find it fails, saying where to get it.
//!
//! `OFFERD_SHARED_DIR` points elsewhere; `TARGET_SDK_TESTING_DIR` points at another
//! copy of the suite's `schema` folder.

use std::path::{Path, PathBuf};

/// Where the folder is looked for when `OFFERD_SHARED_DIR` is unset.
fn default_dir() -> PathBuf {
    // testkit/ sits in the repository's root, so the root's sibling is two levels up.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

/// The `../shared` folder. Panics when it is missing: no test passes by skipping it.
pub fn dir() -> PathBuf {
    let dir = std::env::var_os("OFFERD_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(default_dir);
    if !dir.is_dir() {
        missing(&dir);
    }
    dir
}

/// The bytes of `relative` under [`dir`]; panics, naming the file, when it is absent.
pub fn file(relative: &str) -> Vec<u8> {
    let path = dir().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| missing_file(&path, &e))
}

/// The conformance suite's `schema` folder: `TARGET_SDK_TESTING_DIR`, else
/// `target-sdk-testing/schema` under [`dir`].
pub fn suite_dir() -> PathBuf {
    let dir = match std::env::var_os("TARGET_SDK_TESTING_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => dir().join("target-sdk-testing/schema"),
    };
    if !dir.is_dir() {
        missing(&dir);
    }
    dir
}

/// `../shared/real-artifact/rules.json` and `rules.bin` belong to this organization.
pub const REAL_ARTIFACT_ORG: &str = "74F652E95F1B16FE0A495C92@AdobeOrg";

fn missing(dir: &Path) -> ! {
    panic!(
        "{} is missing. offerd's tests read the reference material there: Adobe's \
         conformance suite (github.com/adobe/target-sdk-testing, its schema folder as \
         target-sdk-testing/schema) and a real artifact (real-artifact/rules.json, rules.bin). \
         Put it beside the repository as ../shared, or set OFFERD_SHARED_DIR{}",
        dir.display(),
        if std::env::var_os("CI").is_some() {
            " (CI must provide it)"
        } else {
            ""
        }
    )
}

fn missing_file(path: &Path, error: &std::io::Error) -> ! {
    panic!(
        "cannot read {} ({error}): the reference material in ../shared is incomplete",
        path.display()
    )
}
