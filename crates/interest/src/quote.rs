//! Quotes for withdrawing all or part of a deposit on a business date.

use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::accrual::{interest_for_days, interest_for_term};
use crate::rounding::{from_scaled_integer, to_scaled_integer};
use crate::{Deposit, MaturityState, QuoteError, Rate};

/// Kind of withdrawal, which decides the interest rule applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WithdrawalKind {
    /// The whole balance before the maturity date, at the demand rate.
    EarlyFull,
    /// Part of the balance before the maturity date. The part earns the demand rate and
    /// the rest keeps its contract rate and maturity date.
    EarlyPartial,
    /// The whole balance on the maturity date, at the contract rate.
    AtMaturity,
    /// The whole balance after the maturity date: full-term interest at the contract rate
    /// plus demand interest for the days past maturity.
    Overdue,
}

impl WithdrawalKind {
    /// Snake-case name: `"early_full"`, `"early_partial"`, `"at_maturity"` or `"overdue"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            WithdrawalKind::EarlyFull => "early_full",
            WithdrawalKind::EarlyPartial => "early_partial",
            WithdrawalKind::AtMaturity => "at_maturity",
            WithdrawalKind::Overdue => "overdue",
        }
    }
}

impl fmt::Display for WithdrawalKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Interest and principal for one withdrawal on one business date.
///
/// Every amount has exactly the currency's minor-unit digits as its scale (225.00, not
/// 225), and every interest amount was rounded once, half up, to the minor unit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Quote {
    /// Business date of the withdrawal.
    pub on: NaiveDate,
    /// Maturity date of the deposit.
    pub maturity_date: NaiveDate,
    /// State of the deposit on `on`.
    pub state: MaturityState,
    /// Kind of withdrawal, which decides the interest rule applied.
    pub kind: WithdrawalKind,
    /// Days from the opening date to `on`, counting the opening day and not the
    /// withdrawal day (算头不算尾).
    pub days_held: u32,
    /// Days from the maturity date to `on`, or 0 unless the deposit is overdue.
    pub days_overdue: u32,
    /// Principal withdrawn.
    pub amount_withdrawn: Decimal,
    /// Principal left in the deposit, or 0 after a full withdrawal.
    pub remaining_principal: Decimal,
    /// Rate for the days up to the withdrawal or the maturity date: the demand rate for an
    /// early withdrawal, otherwise the contract rate. Overdue days always earn the demand
    /// rate, shown separately as `overdue_interest`.
    pub rate_applied: Rate,
    /// Interest paid now on `amount_withdrawn`. For an overdue withdrawal this is
    /// `interest_at_maturity + overdue_interest`.
    pub interest: Decimal,
    /// Interest that `amount_withdrawn` earns for the full term at the contract rate. For
    /// an at-maturity or overdue withdrawal this is the full-term part of `interest`.
    pub interest_at_maturity: Decimal,
    /// `interest_at_maturity - interest`, floored at 0. Only early withdrawals lose
    /// interest.
    pub interest_loss: Decimal,
    /// Demand interest for the days past maturity, or 0 unless overdue.
    pub overdue_interest: Decimal,
    /// Interest that `remaining_principal` will earn at maturity at the contract rate, or
    /// 0 after a full withdrawal.
    pub remaining_interest_at_maturity: Decimal,
}

/// Quotes a withdrawal of `amount` from `deposit` on the business date `on`, or of the
/// whole balance when `amount` is `None`.
///
/// `demand_rate` is the demand (活期) rate posted on `on`. An amount equal to the whole
/// balance is a full withdrawal. The rules applied are those of 储蓄管理条例 (State
/// Council Order No. 107, 1992, revised 2011), articles 24 to 26, plus the partial
/// withdrawal limits that banks set for this product:
///
/// - Before maturity, the whole deposit earns the demand rate for the days held
///   (article 24).
/// - Before maturity, one partial withdrawal is allowed. The part earns the demand rate
///   for the days held, and the rest keeps its contract rate and maturity date
///   (article 24). The rest must be at least the product minimum.
/// - On the maturity date, the deposit earns the contract rate fixed at opening for the
///   full term (article 26).
/// - After maturity, with no automatic rollover, the deposit earns the full-term interest
///   plus the demand rate for the days past maturity (article 25).
///
/// # Errors
///
/// Returns [`QuoteError`] for an invalid deposit (see [`Deposit::validate`]), a date
/// before the opening date, an invalid amount, or a partial withdrawal that the rules
/// above do not allow.
pub fn quote(
    deposit: &Deposit,
    on: NaiveDate,
    demand_rate: Rate,
    amount: Option<Decimal>,
) -> Result<Quote, QuoteError> {
    deposit.validate()?;
    let digits = deposit.product.minor_unit_digits;
    let principal_units = to_minor_units(deposit.principal, digits)?;

    if on < deposit.opened_on {
        return Err(QuoteError::DateBeforeOpening {
            on,
            opened_on: deposit.opened_on,
        });
    }
    let maturity_date = deposit.maturity_date()?;
    let state = MaturityState::determine(on, maturity_date);

    let amount_units = match amount {
        None => principal_units,
        Some(amount) => validate_amount(deposit, amount)?,
    };
    let kind = classify_withdrawal(deposit, on, maturity_date, state, amount_units)?;

    // Days held count the opening day and not the withdrawal day (算头不算尾), which is
    // the plain difference of the two dates.
    let days_held = days_between(deposit.opened_on, on)?;
    let days_overdue = match state {
        MaturityState::Overdue => days_between(maturity_date, on)?,
        MaturityState::Unmatured | MaturityState::Matured => 0,
    };

    let contract_rate = deposit.contract_rate;
    let day_basis = deposit.product.day_basis;
    let interest_at_maturity = interest_for_term(amount_units, contract_rate, deposit.term)?;

    let (interest, overdue_interest, rate_applied) = match kind {
        // Article 24: an early withdrawal, whole or part, earns the demand rate posted on
        // the withdrawal day for the days held.
        WithdrawalKind::EarlyFull | WithdrawalKind::EarlyPartial => {
            let interest = interest_for_days(amount_units, demand_rate, days_held, day_basis)?;
            (interest, 0, demand_rate)
        }
        // Article 26: the contract rate fixed at opening applies for the whole term.
        WithdrawalKind::AtMaturity => (interest_at_maturity, 0, contract_rate),
        // Article 25: the days past maturity earn the demand rate posted on the withdrawal
        // day. The two interest amounts are rounded separately and then added.
        WithdrawalKind::Overdue => {
            let overdue_interest = interest_for_days(amount_units, demand_rate, days_overdue, day_basis)?;
            let interest = interest_at_maturity
                .checked_add(overdue_interest)
                .ok_or(QuoteError::ArithmeticOverflow)?;
            (interest, overdue_interest, contract_rate)
        }
    };

    // NOTE: A term can hold more days than its months' share of the day-basis year (a
    // 3-month term holds up to 92 days, and 91/360 > 3/12). So a demand rate close to
    // the contract rate can pay more early than at maturity, and the floor reports no
    // loss in that case.
    let interest_loss = interest_at_maturity
        .checked_sub(interest)
        .ok_or(QuoteError::ArithmeticOverflow)?
        .max(0);

    // Article 24: the rest of a partial withdrawal keeps its contract rate and earns it
    // at the original maturity date.
    let remaining_units = principal_units
        .checked_sub(amount_units)
        .ok_or(QuoteError::ArithmeticOverflow)?;
    let remaining_interest_at_maturity = interest_for_term(remaining_units, contract_rate, deposit.term)?;

    Ok(Quote {
        on,
        maturity_date,
        state,
        kind,
        days_held,
        days_overdue,
        amount_withdrawn: from_minor_units(amount_units, digits)?,
        remaining_principal: from_minor_units(remaining_units, digits)?,
        rate_applied,
        interest: from_minor_units(interest, digits)?,
        interest_at_maturity: from_minor_units(interest_at_maturity, digits)?,
        interest_loss: from_minor_units(interest_loss, digits)?,
        overdue_interest: from_minor_units(overdue_interest, digits)?,
        remaining_interest_at_maturity: from_minor_units(remaining_interest_at_maturity, digits)?,
    })
}

/// Checks a requested withdrawal amount against the balance and returns it in minor
/// units.
fn validate_amount(deposit: &Deposit, amount: Decimal) -> Result<i128, QuoteError> {
    if amount <= Decimal::ZERO {
        return Err(QuoteError::AmountNotPositive { amount });
    }

    let max_places = deposit.product.minor_unit_digits;
    let amount_units = to_scaled_integer(amount, max_places)
        .ok_or(QuoteError::AmountTooManyDecimalPlaces { amount, max_places })?;

    if amount > deposit.principal {
        return Err(QuoteError::AmountAboveBalance {
            amount,
            balance: deposit.principal,
        });
    }

    Ok(amount_units)
}

/// Decides the kind of withdrawal and rejects partial withdrawals that are not allowed.
fn classify_withdrawal(
    deposit: &Deposit,
    on: NaiveDate,
    maturity_date: NaiveDate,
    state: MaturityState,
    amount_units: i128,
) -> Result<WithdrawalKind, QuoteError> {
    let digits = deposit.product.minor_unit_digits;
    let principal_units = to_minor_units(deposit.principal, digits)?;
    let is_partial = amount_units < principal_units;

    match state {
        MaturityState::Unmatured if !is_partial => Ok(WithdrawalKind::EarlyFull),
        MaturityState::Unmatured => {
            check_partial_allowed(deposit, amount_units, principal_units)?;
            Ok(WithdrawalKind::EarlyPartial)
        }
        // On and after the maturity date a lump-sum deposit is withdrawn whole.
        MaturityState::Matured | MaturityState::Overdue if is_partial => {
            Err(QuoteError::PartialWithdrawalAtOrAfterMaturity { on, maturity_date })
        }
        MaturityState::Matured => Ok(WithdrawalKind::AtMaturity),
        MaturityState::Overdue => Ok(WithdrawalKind::Overdue),
    }
}

/// Rejects a partial early withdrawal that the product does not allow.
///
/// Banks allow one partial early withdrawal per lump-sum deposit, and the rest must not
/// fall below the product minimum. Otherwise only a full withdrawal is possible.
fn check_partial_allowed(
    deposit: &Deposit,
    amount_units: i128,
    principal_units: i128,
) -> Result<(), QuoteError> {
    if deposit.partial_withdrawal_used {
        return Err(QuoteError::SecondPartialWithdrawal);
    }

    let digits = deposit.product.minor_unit_digits;
    let minimum_units = to_minor_units(deposit.product.min_remaining_principal, digits)?;
    let remaining_units = principal_units
        .checked_sub(amount_units)
        .ok_or(QuoteError::ArithmeticOverflow)?;
    if remaining_units < minimum_units {
        return Err(QuoteError::RemainderBelowMinimum {
            amount: from_minor_units(amount_units, digits)?,
            remaining: from_minor_units(remaining_units, digits)?,
            minimum: from_minor_units(minimum_units, digits)?,
        });
    }

    Ok(())
}

/// Converts an amount already validated against the currency's digits to minor units.
fn to_minor_units(amount: Decimal, digits: u32) -> Result<i128, QuoteError> {
    to_scaled_integer(amount, digits).ok_or(QuoteError::ArithmeticOverflow)
}

fn from_minor_units(units: i128, digits: u32) -> Result<Decimal, QuoteError> {
    from_scaled_integer(units, digits).ok_or(QuoteError::ArithmeticOverflow)
}

/// Counts the days from `start` to `end`, counting `start` and not `end`.
fn days_between(start: NaiveDate, end: NaiveDate) -> Result<u32, QuoteError> {
    let days = end.signed_duration_since(start).num_days();
    u32::try_from(days).map_err(|_| QuoteError::ArithmeticOverflow)
}

#[cfg(test)]
mod tests;
