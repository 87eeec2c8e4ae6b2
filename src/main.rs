//! The `strata` binary: parse the command line and run it with Strata's own migrations.

fn main() -> std::process::ExitCode {
    strata::cli::main::<migration::Migrator>()
}
