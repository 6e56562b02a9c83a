//! Runs loaded conformance cases through a caller-supplied engine closure, checks what
//! it produced against each case's expectations, and renders the pass/fail report.
//!
//! Used by offerd's conformance test and by any command that prints suite results.

use std::fmt::Write as _;

use serde_json::Value;

use super::matcher::contains;
use super::suite::{Case, NotificationExpectation, Suite};

/// What the engine produced for one case.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CaseRun {
    /// The engine-level get-offers response.
    pub response: Value,
    /// Every notification request body sent upstream while running the case, in order.
    pub notifications: Vec<Value>,
}

/// Outcome of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseResult {
    /// All expectations held.
    Passed,
    /// Human-readable reasons, one per violated expectation.
    Failed(Vec<String>),
}

/// Per-suite results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteReport {
    /// Suite name (file stem).
    pub name: String,
    /// Suite description.
    pub description: String,
    /// Number of passed cases.
    pub passed: usize,
    /// Number of failed cases.
    pub failed: usize,
    /// Failed cases as (case key, case description, reasons), in case order.
    pub failures: Vec<(String, String, Vec<String>)>,
}

/// Results of a whole run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// One entry per suite, in the order the suites were given.
    pub suites: Vec<SuiteReport>,
    /// Passed cases over all suites.
    pub passed: usize,
    /// Failed cases over all suites.
    pub failed: usize,
}

/// Checks an engine run against the case: `output` against the response, and the
/// notification expectation against the notification requests sent.
pub fn check_case(case: &Case, run: &CaseRun) -> CaseResult {
    let mut reasons: Vec<String> = Vec::new();
    if let Some(expected) = &case.output {
        let mismatches = contains(expected, &run.response);
        reasons.extend(mismatches.iter().map(|m| format!("output: {m}")));
    }
    reasons.extend(check_notifications(
        &case.notification_output,
        &run.notifications,
    ));
    if reasons.is_empty() {
        CaseResult::Passed
    } else {
        CaseResult::Failed(reasons)
    }
}

fn check_notifications(expectation: &NotificationExpectation, sent: &[Value]) -> Vec<String> {
    match (expectation, sent) {
        (NotificationExpectation::Unchecked, _) | (NotificationExpectation::NoneSent, []) => {
            Vec::new()
        }
        (NotificationExpectation::NoneSent, _) => vec![format!(
            "notifications: expected none to be sent, but {} were sent",
            sent.len()
        )],
        (NotificationExpectation::Contains(expected), [only]) => contains(expected, only)
            .iter()
            .map(|m| format!("notification: {m}"))
            .collect(),
        (NotificationExpectation::Contains(_), _) => vec![format!(
            "notifications: expected exactly one to be sent, but {} were sent",
            sent.len()
        )],
    }
}

/// Runs every case of every suite through `execute` and checks the results.
///
/// An `Err` from `execute` fails that case with the error as its reason; panics are
/// deliberately not caught so a crashing engine stops the run visibly.
pub fn run_suites<F>(suites: &[Suite], mut execute: F) -> Report
where
    F: FnMut(&Case) -> Result<CaseRun, String>,
{
    let mut report = Report {
        suites: Vec::with_capacity(suites.len()),
        passed: 0,
        failed: 0,
    };
    for suite in suites {
        let mut suite_report = SuiteReport {
            name: suite.name.clone(),
            description: suite.description.clone(),
            passed: 0,
            failed: 0,
            failures: Vec::new(),
        };
        for case in &suite.cases {
            let result = match execute(case) {
                Ok(run) => check_case(case, &run),
                Err(error) => CaseResult::Failed(vec![format!("engine error: {error}")]),
            };
            match result {
                CaseResult::Passed => suite_report.passed += 1,
                CaseResult::Failed(reasons) => {
                    suite_report.failed += 1;
                    let entry = (case.key.clone(), case.description.clone(), reasons);
                    suite_report.failures.push(entry);
                }
            }
        }
        report.passed += suite_report.passed;
        report.failed += suite_report.failed;
        report.suites.push(suite_report);
    }
    report
}

impl Report {
    /// Renders the report: per suite, a `FAIL <suite>/<case>: <description>` line with
    /// indented reasons for each failing case, then `suite <name>: P passed, F failed`;
    /// the last line is `N passed, M failed` (no trailing newline).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for suite in &self.suites {
            for (key, description, reasons) in &suite.failures {
                let _ = writeln!(out, "FAIL {}/{key}: {description}", suite.name);
                for line in reasons.iter().flat_map(|reason| reason.lines()) {
                    let _ = writeln!(out, "    {line}");
                }
            }
            let _ = writeln!(
                out,
                "suite {}: {} passed, {} failed",
                suite.name, suite.passed, suite.failed
            );
        }
        let _ = write!(out, "{} passed, {} failed", self.passed, self.failed);
        out
    }

    /// True when no case failed.
    pub fn is_success(&self) -> bool {
        self.failed == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn case(key: &str, output: Option<Value>, notes: NotificationExpectation) -> Case {
        Case {
            suite: "S".into(),
            key: key.into(),
            description: format!("{key} description"),
            conf: json!({}),
            artifact: None,
            input: json!({}),
            output,
            notification_output: notes,
            mock_date_ms: None,
            mock_geo: None,
        }
    }

    fn run(response: Value, notifications: Vec<Value>) -> CaseRun {
        CaseRun {
            response,
            notifications,
        }
    }

    fn reasons(result: CaseResult) -> Vec<String> {
        match result {
            CaseResult::Passed => Vec::new(),
            CaseResult::Failed(reasons) => reasons,
        }
    }

    #[test]
    fn output_is_checked_by_contains() {
        let c = case(
            "k",
            Some(json!({"status": 200})),
            NotificationExpectation::Unchecked,
        );
        let ok = run(json!({"status": 200, "extra": 1}), vec![json!({})]);
        assert_eq!(check_case(&c, &ok), CaseResult::Passed);
        let bad = reasons(check_case(&c, &run(json!({"status": 500}), vec![])));
        assert_eq!(bad, ["output: status: expected 200, found 500"]);
    }

    #[test]
    fn no_output_means_nothing_to_check() {
        let c = case("k", None, NotificationExpectation::Unchecked);
        let anything = run(json!(null), vec![json!(1), json!(2)]);
        assert_eq!(check_case(&c, &anything), CaseResult::Passed);
    }

    #[test]
    fn none_sent_rejects_any_notification() {
        let c = case("k", None, NotificationExpectation::NoneSent);
        assert_eq!(check_case(&c, &run(json!({}), vec![])), CaseResult::Passed);
        let bad = reasons(check_case(&c, &run(json!({}), vec![json!({})])));
        assert_eq!(bad.len(), 1);
        assert!(bad[0].contains("expected none"), "{bad:?}");
    }

    #[test]
    fn contains_needs_exactly_one_matching_notification() {
        let expected = json!({"request": {"notifications": [{"type": "display"}]}});
        let c = case("k", None, NotificationExpectation::Contains(expected));
        let good = json!({"request": {"notifications": [{"type": "display", "id": "x"}]}});
        let wrong = json!({"request": {"notifications": [{"type": "click"}]}});
        let one = run(json!({}), vec![good.clone()]);
        assert_eq!(check_case(&c, &one), CaseResult::Passed);
        for sent in [vec![], vec![good.clone(), good]] {
            let bad = reasons(check_case(&c, &run(json!({}), sent)));
            assert!(bad[0].contains("exactly one"), "{bad:?}");
        }
        let bad = reasons(check_case(&c, &run(json!({}), vec![wrong])));
        let line =
            "notification: request.notifications[0].type: expected \"display\", found \"click\"";
        assert_eq!(bad, [line]);
    }

    #[test]
    fn output_and_notification_failures_both_reported() {
        let c = case(
            "k",
            Some(json!({"a": 1})),
            NotificationExpectation::NoneSent,
        );
        let bad = reasons(check_case(&c, &run(json!({"a": 2}), vec![json!({})])));
        assert_eq!(bad.len(), 2);
    }

    fn suites() -> Vec<Suite> {
        let ok = Some(json!({"ok": true}));
        let unchecked = NotificationExpectation::Unchecked;
        vec![
            Suite {
                name: "S1".into(),
                description: "first".into(),
                cases: vec![
                    case("pass", ok.clone(), unchecked.clone()),
                    case("fail", ok.clone(), unchecked.clone()),
                ],
            },
            Suite {
                name: "S2".into(),
                description: "second".into(),
                cases: vec![
                    case("boom", ok.clone(), unchecked.clone()),
                    case("fine", ok, unchecked),
                ],
            },
        ]
    }

    #[test]
    fn run_suites_counts_and_renders() {
        let mut seen = Vec::new();
        let report = run_suites(&suites(), |c| {
            seen.push(c.key.clone());
            match c.key.as_str() {
                "boom" => Err("engine exploded\nsecond line".to_string()),
                "fail" => Ok(run(json!({"ok": false}), vec![])),
                _ => Ok(run(json!({"ok": true}), vec![])),
            }
        });
        assert_eq!(seen, ["pass", "fail", "boom", "fine"]);
        assert_eq!((report.passed, report.failed), (2, 2));
        assert!(!report.is_success());
        assert_eq!(report.suites[1].failures[0].0, "boom");
        let expected = "\
FAIL S1/fail: fail description
    output: ok: expected true, found false
suite S1: 1 passed, 1 failed
FAIL S2/boom: boom description
    engine error: engine exploded
    second line
suite S2: 1 passed, 1 failed
2 passed, 2 failed";
        assert_eq!(report.render(), expected);
    }

    #[test]
    fn all_passing_report_is_success() {
        let report = run_suites(&suites(), |_| Ok(run(json!({"ok": true}), vec![])));
        assert!(report.is_success());
        assert_eq!(report.render().lines().last(), Some("4 passed, 0 failed"));
    }
}
