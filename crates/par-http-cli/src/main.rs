//! `par-http`: fetch many URLs in parallel from the shell, in the spirit of
//! `curl --parallel` and `xargs -P`, through one parallel scope of the par-http client.
//!
//! The parts: [`args`] reads the command line, [`run`] drives the scope from one collecting thread,
//! [`output`] puts each body where it belongs, [`report`] prints a line per URL and the
//! live progress bar, and [`summary`] adds it all up at the end.

#![forbid(unsafe_code)]

mod args;
mod output;
mod report;
mod run;
mod summary;

use std::process::ExitCode;

use args::Command;

fn main() -> ExitCode {
    match args::parse_env() {
        Ok(Command::Run(options)) => run::run(&options),
        Ok(Command::Help) => {
            print!("{}", args::USAGE);
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("par-http {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("par-http: {err}");
            eprintln!("try `par-http --help`");
            ExitCode::from(2)
        }
    }
}
