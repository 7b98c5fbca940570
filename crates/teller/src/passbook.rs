//! `teller passbook`: every deposit in a passbook, with what a full
//! withdrawal today pays and loses. The view a teller must see before any
//! withdrawal.

use clap::Args;

use crate::client::{Api, ServiceUrls};
use crate::error::Failure;
use crate::json;
use crate::lang::Lang;
use crate::output::Output;
use crate::render;
use crate::signing::check_identifier;

/// Flags of `teller passbook`.
#[derive(Debug, Args)]
pub struct PassbookArgs {
    /// Passbook number, for example PB2022111400.
    pub passbook_number: String,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: &PassbookArgs, urls: &ServiceUrls, lang: Lang) -> Result<(), Failure> {
    check_identifier(lang, "PASSBOOK_NUMBER", &args.passbook_number)?;
    let api = Api::new(urls, lang)?;
    let view = api.get_passbook(&args.passbook_number).await?;
    if args.json {
        println!("{}", json::passbook(&view));
    } else {
        let out = Output::new(lang, false);
        print!("{}", render::passbook(&view, lang, out.style));
    }
    Ok(())
}
