//! `rfd-cli`: the command line over the RFD API. The commands arrive with the API
//! issue, built on a client generated from `openapi/rfd-api.json`.

use clap::Parser;

#[derive(Parser)]
#[command(name = "rfd-cli", version, about = "The RFD platform's command line")]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
