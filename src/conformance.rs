//! Loader, matcher and runner for Adobe's cross-SDK on-device decisioning conformance
//! suite (the `schema/` folder of GitHub adobe/target-sdk-testing), and the executor
//! that runs its cases through offerd's engine.
//!
//! Owns everything around the engine call: reading and hydrating suite folders
//! ([`suite`]), Jest `toMatchObject`-style comparison ([`matcher`]), pass/fail
//! bookkeeping plus the printed report ([`runner`]), and one case through the engine
//! ([`execute`]). `tests/conformance.rs` and `offerd conformance` share this code.

pub mod execute;
pub mod matcher;
pub mod runner;
pub mod suite;

pub use execute::run_case;
pub use matcher::{Mismatch, contains};
pub use runner::{CaseResult, CaseRun, Report, SuiteReport, check_case, run_suites};
pub use suite::{
    Case, NotificationExpectation, Suite, SuiteError, load_suites, mock_date_to_millis,
};
