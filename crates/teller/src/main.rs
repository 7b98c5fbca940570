//! `teller`: the teller's command-line client.
//!
//! `teller quote` is the offline interest trial calculation (利息试算): it needs
//! no server. Screens are in Chinese (zh-CN) by default; `--lang en` switches
//! to English.
#![forbid(unsafe_code)]

mod format;
mod lang;
mod quote;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::lang::Lang;

/// Exit status for invalid input, the same status clap uses for usage errors.
const EXIT_INVALID_INPUT: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "teller",
    version,
    about = "Teller client for time-deposit withdrawals (定期存款支取柜员客户端)"
)]
struct Cli {
    /// Language of screens and messages: zh-CN (default) or en.
    #[arg(long, global = true, value_enum, default_value_t = Lang::ZhCn, env = "TELLER_LANG")]
    lang: Lang,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Offline interest trial calculation (利息试算) for a lump-sum time deposit.
    Quote(quote::QuoteArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Quote(args) => quote::run(args, cli.lang),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::from(EXIT_INVALID_INPUT)
        }
    }
}
