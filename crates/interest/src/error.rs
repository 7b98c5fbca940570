//! The error type for invalid inputs and withdrawals that the rules do not allow.

use chrono::NaiveDate;
use rust_decimal::Decimal;

/// Error from validating a deposit, a rate, a term or a product, or from quoting a
/// withdrawal that the rules do not allow.
///
/// Each message names the rejected value and states what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    #[error("principal {principal} is invalid because it must be greater than 0")]
    PrincipalNotPositive { principal: Decimal },

    #[error(
        "principal {principal} has more than {max_places} decimal places \
         (round it to the currency's minor unit)"
    )]
    PrincipalTooManyDecimalPlaces { principal: Decimal, max_places: u32 },

    #[error("principal {principal} exceeds the maximum {maximum}")]
    PrincipalAboveMaximum { principal: Decimal, maximum: Decimal },

    #[error("term of {months} months is invalid (expected 3, 6, 12, 24, 36 or 60 months)")]
    InvalidTerm { months: u32 },

    #[error("rate {percent}% is out of range (expected an annual percent from 0 to 100)")]
    RateOutOfRange { percent: Decimal },

    #[error(
        "rate {percent}% has more than {max_places} decimal places \
         (round the annual percent to {max_places} places)"
    )]
    RateTooManyDecimalPlaces { percent: Decimal, max_places: u32 },

    #[error(
        "rate {input:?} is not a valid decimal number \
         (expected an annual percent such as \"3.00\")"
    )]
    InvalidRateFormat { input: String },

    #[error("day basis {input:?} is invalid (expected \"actual-360\" or \"actual-365\")")]
    InvalidDayBasis { input: String },

    #[error("minor unit digits {digits} exceed the maximum {maximum} (use 2 for CNY)")]
    MinorUnitDigitsTooLarge { digits: u32, maximum: u32 },

    #[error(
        "minimum remaining principal {minimum} is invalid because it must be 0 or more \
         with at most {max_places} decimal places"
    )]
    InvalidMinimumRemainingPrincipal { minimum: Decimal, max_places: u32 },

    #[error("date {on} is before the opening date {opened_on} (quote on or after the opening date)")]
    DateBeforeOpening { on: NaiveDate, opened_on: NaiveDate },

    #[error(
        "maturity date of a {term_months}-month deposit opened on {opened_on} is after \
         the last supported date {last_supported} (check the opening date)"
    )]
    MaturityDateOutOfRange {
        opened_on: NaiveDate,
        term_months: u32,
        last_supported: NaiveDate,
    },

    #[error("withdrawal amount {amount} is invalid because it must be greater than 0")]
    AmountNotPositive { amount: Decimal },

    #[error(
        "withdrawal amount {amount} has more than {max_places} decimal places \
         (round it to the currency's minor unit)"
    )]
    AmountTooManyDecimalPlaces { amount: Decimal, max_places: u32 },

    #[error("withdrawal amount {amount} exceeds the balance {balance} (withdraw at most the balance)")]
    AmountAboveBalance { amount: Decimal, balance: Decimal },

    #[error(
        "partial withdrawal of {amount} would leave {remaining}, which is below the product \
         minimum {minimum} (withdraw a smaller amount or the whole balance)"
    )]
    RemainderBelowMinimum {
        amount: Decimal,
        remaining: Decimal,
        minimum: Decimal,
    },

    #[error(
        "the deposit's one partial early withdrawal was already used \
         (withdraw the whole balance instead)"
    )]
    SecondPartialWithdrawal,

    #[error(
        "partial withdrawal on {on} is not allowed on or after the maturity date \
         {maturity_date} (withdraw the whole balance)"
    )]
    PartialWithdrawalAtOrAfterMaturity { on: NaiveDate, maturity_date: NaiveDate },

    #[error(
        "interest arithmetic overflowed, which cannot happen for inputs within the \
         validated limits (report the inputs)"
    )]
    ArithmeticOverflow,
}
