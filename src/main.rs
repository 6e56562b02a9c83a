//! The `offerd` binary: `offerd conformance --schema DIR` runs a Target conformance
//! suite against the engine.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "offerd",
    version,
    about = "Adobe Target–compatible decisioning service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a conformance suite (a folder with `models/` and `artifacts/`) against the
    /// engine: one line per failing case, a line per suite, then `N passed, M failed`.
    Conformance {
        /// The suite folder, e.g. target-sdk-testing/schema.
        #[arg(long)]
        schema: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Conformance { schema } => run_conformance(&schema),
    }
}

fn run_conformance(schema: &std::path::Path) -> ExitCode {
    let suites = match offerd::conformance::load_suites(schema) {
        Ok(suites) => suites,
        Err(err) => {
            eprintln!("offerd conformance: {err}");
            return ExitCode::from(2);
        }
    };
    let report = offerd::conformance::run_suites(&suites, offerd::conformance::run_case);
    println!("{}", report.render());
    if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
