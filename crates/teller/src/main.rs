//! `teller`: the teller's command-line client.
//!
//! `teller quote` is the offline interest trial calculation (利息试算): it needs
//! no server. The other commands talk to deposit-status and
//! withdrawal-authorization: the passbook view, withdrawals and passbook
//! closures with the customer's acknowledgement and a supervisor's
//! co-signature, the supervisor's commands, the audit trail, keys and staff
//! enrollment, and a scripted training demo. Screens are in Chinese (zh-CN)
//! by default; `--lang en` switches to English.
//!
//! Exit statuses: 0 on success, 1 when a service rejected a request or a
//! check failed, 2 for invalid input, 3 when a wait timed out or was
//! cancelled, or the customer or supervisor declined.
#![forbid(unsafe_code)]

mod audit;
mod authorize;
mod client;
mod close;
mod demo;
mod error;
mod format;
mod identity;
mod json;
mod keys;
mod lang;
mod output;
mod passbook;
mod quote;
mod release;
mod render;
mod signing;
mod staff;
mod supervisor;
mod terms;
mod withdraw;

use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::client::ServiceUrls;
use crate::error::{EXIT_INVALID_INPUT, Failure};
use crate::lang::Lang;
use crate::signing::IdentityArgs;

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

    #[command(flatten)]
    urls: ServiceUrls,

    #[command(flatten)]
    identity: IdentityArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Offline interest trial calculation (利息试算) for a lump-sum time deposit.
    Quote(quote::QuoteArgs),
    /// Show every deposit in a passbook (一本通/存折) with what a full
    /// withdrawal today pays and loses.
    Passbook(passbook::PassbookArgs),
    /// Withdraw from one deposit: attestation, teller signature, the
    /// customer's acknowledgement when interest is lost, a supervisor's
    /// co-signature, release and payout slip.
    Withdraw(withdraw::WithdrawArgs),
    /// Pay out an authorization that a supervisor co-signed after the
    /// teller's withdraw stopped waiting, and print the slip.
    Release(release::ReleaseArgs),
    /// Close a passbook (销户): withdraw every open deposit, each unmatured
    /// one with its own acknowledgement and co-signature.
    Close(close::CloseArgs),
    /// Supervisor (营运主管) commands: list, show, cosign, reject.
    #[command(subcommand)]
    Supervisor(supervisor::SupervisorCommand),
    /// Audit trail and verification of the audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Generate staff keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Staff directory administration.
    #[command(subcommand)]
    Staff(staff::StaffCommand),
    /// Replay the 2025-02-22 incident step by step against bank-dev, for
    /// training.
    Demo(demo::DemoArgs),
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let lang = cli.lang;

    if let Command::Quote(args) = &cli.command {
        return match quote::run(args, lang) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("{error}");
                ExitCode::from(EXIT_INVALID_INPUT)
            }
        };
    }

    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: failed to start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&cli, &matches)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let message = failure.render(lang);
            if !message.is_empty() {
                eprintln!("{message}");
            }
            ExitCode::from(failure.exit_code())
        }
    }
}

async fn run(cli: &Cli, matches: &ArgMatches) -> Result<(), Failure> {
    let lang = cli.lang;
    match &cli.command {
        Command::Quote(_) => Ok(()),
        Command::Passbook(args) => passbook::run(args, &cli.urls, lang).await,
        Command::Withdraw(args) => withdraw::run(args, &cli.urls, &cli.identity, lang).await,
        Command::Release(args) => release::run(args, &cli.urls, lang).await,
        Command::Close(args) => close::run(args, &cli.urls, &cli.identity, lang).await,
        Command::Supervisor(command) => supervisor::run(command, &cli.urls, &cli.identity, lang).await,
        Command::Audit(command) => audit::run(command, &cli.urls, lang).await,
        Command::Keys(command) => keys::run(command, lang),
        Command::Staff(command) => {
            let member = staff::Member {
                staff_id: from_command_line(matches, "staff_id"),
                branch: from_command_line(matches, "branch"),
            };
            staff::run(command, &member, &cli.urls, lang).await
        }
        Command::Demo(args) => demo::run(args, &cli.urls, &cli.identity, lang).await,
    }
}

/// Returns the value of a global flag only when it was typed on the command
/// line, searching the deepest subcommand that saw it.
fn from_command_line(matches: &ArgMatches, id: &str) -> Option<String> {
    let mut current = matches;
    let mut found = None;
    loop {
        if current.value_source(id) == Some(ValueSource::CommandLine) {
            found = current.get_one::<String>(id).cloned();
        }
        match current.subcommand() {
            Some((_, next)) => current = next,
            None => return found,
        }
    }
}
