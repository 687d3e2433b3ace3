//! `rfd-cli`: the command line over the RFD API, on the client generated from its
//! OpenAPI document (`rfd-sdk`).

mod auth;
mod cli;
mod commands;
mod config;
mod error;
mod names;
mod output;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line, whatever the error: scripts read it, people see it whole.
            eprintln!("rfd-cli: {}", err.to_string().replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
