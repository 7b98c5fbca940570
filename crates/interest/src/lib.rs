//! Interest rules for PRC lump-sum time deposits (整存整取, CNY by default): maturity
//! dates, and the interest on withdrawals at maturity, before maturity (whole or one
//! partial withdrawal) and after maturity.
//!
//! The rules follow 储蓄管理条例 (Regulations on Savings Administration, State Council
//! Order No. 107, 1992, revised 2011), articles 24 to 26. [`quote`] documents each rule
//! and where the code applies it.
//!
//! Invariants:
//!
//! - The crate is pure. It does no I/O, reads no clock and keeps no state, so the
//!   caller passes the business date and the demand rate posted on it.
//! - No floating-point numbers are used. Amounts and rates are [`rust_decimal::Decimal`]
//!   and the interest arithmetic runs on checked i128 integers.
//! - Each interest amount is computed as one exact fraction and rounded once, half up
//!   (四舍五入, away from zero), to the currency's minor unit (0.01 for CNY).
//! - Invalid input returns an error and never panics. A property test in
//!   `tests/properties.rs` calls [`quote`] with arbitrary decimals, dates and settings.
//!
//! ```
//! use chrono::NaiveDate;
//! use interest::{Deposit, Product, Rate, Term, quote};
//! use rust_decimal::Decimal;
//!
//! let deposit = Deposit {
//!     principal: Decimal::new(1_000_000, 2),
//!     contract_rate: "2.25".parse()?,
//!     term: Term::try_from(12)?,
//!     opened_on: NaiveDate::from_ymd_opt(2015, 7, 1).unwrap(),
//!     product: Product::default(),
//!     partial_withdrawal_used: false,
//! };
//! let demand_rate: Rate = "0.35".parse()?;
//! let on = NaiveDate::from_ymd_opt(2016, 1, 15).unwrap();
//!
//! let early = quote(&deposit, on, demand_rate, None)?;
//! assert_eq!(early.interest.to_string(), "19.25");
//! assert_eq!(early.interest_at_maturity.to_string(), "225.00");
//! # Ok::<(), interest::QuoteError>(())
//! ```

#![forbid(unsafe_code)]

mod accrual;
mod day_basis;
mod deposit;
mod error;
mod product;
mod quote;
mod rate;
mod rounding;
mod term;

pub use day_basis::DayBasis;
pub use deposit::{Deposit, MAX_PRINCIPAL};
pub use error::QuoteError;
pub use product::Product;
pub use quote::{Quote, WithdrawalKind, quote};
pub use rate::Rate;
pub use rounding::{AmountSplit, MAX_MINOR_UNIT_DIGITS, SplitError, split_amount};
pub use term::{MaturityState, Term, maturity_date};
