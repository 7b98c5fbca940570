//! `teller release`: finishes a withdrawal whose wait for a co-signature
//! ended early (timeout or Ctrl-C), once a supervisor co-signed it. Paying
//! happens at most once: a second release prints the same payout.

use clap::Args;
use serde_json::json;

use crate::authorize;
use crate::client::{Api, ServiceUrls};
use crate::error::Failure;
use crate::json;
use crate::lang::Lang;
use crate::output::Output;
use crate::signing::check_identifier;

/// Flags of `teller release`.
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The co-signed authorization to pay out.
    pub authorization_id: String,
    /// Print one JSON line {"stage": "result", ...} instead of the slip.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: &ReleaseArgs, urls: &ServiceUrls, lang: Lang) -> Result<(), Failure> {
    check_identifier(lang, "AUTHORIZATION_ID", &args.authorization_id)?;
    let out = Output::new(lang, args.json);
    let api = Api::new(urls, lang)?;
    let payout = authorize::release(&api, &out, &args.authorization_id).await?;
    out.stage(json!({
        "stage": "result",
        "status": "released",
        "authorization_id": args.authorization_id,
        "payout": json::payout(&args.authorization_id, &payout),
    }));
    Ok(())
}
