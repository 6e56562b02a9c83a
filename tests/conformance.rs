//! Adobe's cross-SDK conformance suite, run through offerd's engine: every case must
//! pass. The suite is read from `../shared/target-sdk-testing/schema` (override with
//! `TARGET_SDK_TESTING_DIR`); without it the test fails and says where to get it.

use offerd::conformance::{self, load_suites, run_suites};

#[test]
fn every_conformance_case_passes() {
    let dir = testkit::shared::suite_dir();
    let suites = load_suites(&dir).unwrap_or_else(|err| panic!("{err}"));
    let report = run_suites(&suites, conformance::run_case);
    println!("{}", report.render());
    assert!(report.passed > 0, "no conformance case ran");
    assert!(report.is_success(), "{}", report.render());
}
