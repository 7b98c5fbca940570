//! Worked examples and one test per rejected withdrawal.

use super::*;
use crate::{DayBasis, MAX_PRINCIPAL, Product, Term, split_amount};
use rust_decimal_macros::dec;

fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap()
}

fn rate(percent: &str) -> Rate {
    percent.parse().unwrap()
}

fn deposit(principal: Decimal, contract: &str, months: u32, opened_on: NaiveDate) -> Deposit {
    Deposit {
        principal,
        contract_rate: rate(contract),
        term: Term::try_from(months).unwrap(),
        opened_on,
        product: Product::default(),
        partial_withdrawal_used: false,
    }
}

/// 10,000.00 at 2.25% for 12 months, opened 2015-07-01 and maturing 2016-07-01.
fn one_year_deposit() -> Deposit {
    deposit(dec!(10000.00), "2.25", 12, date(2015, 7, 1))
}

/// 20,000.00 at 2.25% for 12 months, opened 2015-07-01.
fn partial_deposit() -> Deposit {
    deposit(dec!(20000.00), "2.25", 12, date(2015, 7, 1))
}

// Worked examples.

#[test]
fn three_year_early_withdrawal_loss() {
    let deposit = deposit(dec!(80000.00), "3.00", 36, date(2022, 11, 14));
    let quote = quote(&deposit, date(2025, 2, 22), rate("0.10"), None).unwrap();

    assert_eq!(quote.maturity_date, date(2025, 11, 14));
    assert_eq!(quote.state, MaturityState::Unmatured);
    assert_eq!(quote.kind, WithdrawalKind::EarlyFull);
    assert_eq!(quote.days_held, 831);
    assert_eq!(quote.days_overdue, 0);
    assert_eq!(quote.amount_withdrawn, dec!(80000.00));
    assert_eq!(quote.remaining_principal, dec!(0));
    assert_eq!(quote.rate_applied, rate("0.10"));
    assert_eq!(quote.interest, dec!(184.67));
    assert_eq!(quote.interest_at_maturity, dec!(7200.00));
    assert_eq!(quote.interest_loss, dec!(7015.33));
    assert_eq!(quote.overdue_interest, dec!(0));
    assert_eq!(quote.remaining_interest_at_maturity, dec!(0));

    let half = split_amount(quote.interest_loss, 1, 2, 2).unwrap();
    assert_eq!(half.share, dec!(3507.67));
    assert_eq!(half.rest, dec!(3507.66));
}

#[test]
fn amount_equal_to_balance_is_full() {
    let deposit = deposit(dec!(80000.00), "3.00", 36, date(2022, 11, 14));
    let whole = quote(&deposit, date(2025, 2, 22), rate("0.10"), None).unwrap();
    let explicit = quote(&deposit, date(2025, 2, 22), rate("0.10"), Some(dec!(80000))).unwrap();

    assert_eq!(explicit, whole);
}

#[test]
fn amounts_carry_two_decimal_places() {
    let deposit = deposit(dec!(80000), "3.00", 36, date(2022, 11, 14));
    let quote = quote(&deposit, date(2025, 2, 22), rate("0.10"), None).unwrap();

    assert_eq!(quote.amount_withdrawn.to_string(), "80000.00");
    assert_eq!(quote.remaining_principal.to_string(), "0.00");
    assert_eq!(quote.interest_at_maturity.to_string(), "7200.00");
    assert_eq!(quote.overdue_interest.to_string(), "0.00");
}

#[test]
fn matured_withdrawal_earns_contract_rate() {
    let quote = quote(&one_year_deposit(), date(2016, 7, 1), rate("0.35"), None).unwrap();

    assert_eq!(quote.state, MaturityState::Matured);
    assert_eq!(quote.kind, WithdrawalKind::AtMaturity);
    assert_eq!(quote.days_held, 366);
    assert_eq!(quote.days_overdue, 0);
    assert_eq!(quote.rate_applied, rate("2.25"));
    assert_eq!(quote.interest, dec!(225.00));
    assert_eq!(quote.interest_at_maturity, dec!(225.00));
    assert_eq!(quote.interest_loss, dec!(0));
    assert_eq!(quote.overdue_interest, dec!(0));
}

#[test]
fn early_withdrawal_actual_360() {
    let quote = quote(&one_year_deposit(), date(2016, 1, 15), rate("0.35"), None).unwrap();

    assert_eq!(quote.kind, WithdrawalKind::EarlyFull);
    assert_eq!(quote.days_held, 198);
    assert_eq!(quote.rate_applied, rate("0.35"));
    assert_eq!(quote.interest, dec!(19.25));
    assert_eq!(quote.interest_at_maturity, dec!(225.00));
    assert_eq!(quote.interest_loss, dec!(205.75));
}

#[test]
fn early_withdrawal_actual_365() {
    let mut deposit = one_year_deposit();
    deposit.product.day_basis = DayBasis::Actual365;
    let quote = quote(&deposit, date(2016, 1, 15), rate("0.35"), None).unwrap();

    assert_eq!(quote.days_held, 198);
    assert_eq!(quote.interest, dec!(18.99));
    assert_eq!(quote.interest_loss, dec!(206.01));
}

#[test]
fn early_withdrawal_on_opening_day_earns_nothing() {
    let quote = quote(&one_year_deposit(), date(2015, 7, 1), rate("0.35"), None).unwrap();

    assert_eq!(quote.days_held, 0);
    assert_eq!(quote.interest, dec!(0));
    assert_eq!(quote.interest_loss, dec!(225.00));
}

#[test]
fn early_withdrawal_day_before_maturity() {
    let quote = quote(&one_year_deposit(), date(2016, 6, 30), rate("0.35"), None).unwrap();

    assert_eq!(quote.state, MaturityState::Unmatured);
    assert_eq!(quote.kind, WithdrawalKind::EarlyFull);
    assert_eq!(quote.days_held, 365);
}

#[test]
fn partial_withdrawal_splits_interest() {
    let quote = quote(
        &partial_deposit(),
        date(2016, 1, 15),
        rate("0.35"),
        Some(dec!(5000.00)),
    )
    .unwrap();

    assert_eq!(quote.kind, WithdrawalKind::EarlyPartial);
    assert_eq!(quote.state, MaturityState::Unmatured);
    assert_eq!(quote.maturity_date, date(2016, 7, 1));
    assert_eq!(quote.days_held, 198);
    assert_eq!(quote.amount_withdrawn, dec!(5000.00));
    assert_eq!(quote.rate_applied, rate("0.35"));
    // 5,000.00 x 0.35% x 198 / 360 = 9.625, rounded half up.
    assert_eq!(quote.interest, dec!(9.63));
    assert_eq!(quote.interest_at_maturity, dec!(112.50));
    assert_eq!(quote.interest_loss, dec!(102.87));
    assert_eq!(quote.remaining_principal, dec!(15000.00));
    assert_eq!(quote.remaining_interest_at_maturity, dec!(337.50));
}

#[test]
fn remainder_matures_on_original_date() {
    let mut rest = partial_deposit();
    rest.principal = dec!(15000.00);
    rest.partial_withdrawal_used = true;

    let quote = quote(&rest, date(2016, 7, 1), rate("0.35"), None).unwrap();

    assert_eq!(quote.kind, WithdrawalKind::AtMaturity);
    assert_eq!(quote.interest, dec!(337.50));
}

#[test]
fn full_withdrawal_allowed_after_partial() {
    let mut rest = partial_deposit();
    rest.principal = dec!(15000.00);
    rest.partial_withdrawal_used = true;

    let quote = quote(&rest, date(2016, 3, 1), rate("0.35"), Some(dec!(15000.00))).unwrap();

    assert_eq!(quote.kind, WithdrawalKind::EarlyFull);
}

#[test]
fn partial_leaving_exact_minimum_allowed() {
    let quote = quote(
        &partial_deposit(),
        date(2016, 1, 15),
        rate("0.35"),
        Some(dec!(19950.00)),
    )
    .unwrap();

    assert_eq!(quote.kind, WithdrawalKind::EarlyPartial);
    assert_eq!(quote.remaining_principal, dec!(50.00));
}

#[test]
fn overdue_adds_demand_interest() {
    let quote = quote(&one_year_deposit(), date(2016, 8, 10), rate("0.35"), None).unwrap();

    assert_eq!(quote.state, MaturityState::Overdue);
    assert_eq!(quote.kind, WithdrawalKind::Overdue);
    assert_eq!(quote.maturity_date, date(2016, 7, 1));
    assert_eq!(quote.days_overdue, 40);
    assert_eq!(quote.days_held, 406);
    assert_eq!(quote.rate_applied, rate("2.25"));
    assert_eq!(quote.interest_at_maturity, dec!(225.00));
    assert_eq!(quote.overdue_interest, dec!(3.89));
    assert_eq!(quote.interest, dec!(228.89));
    assert_eq!(quote.interest_loss, dec!(0));
    assert_eq!(quote.remaining_principal, dec!(0));
}

#[test]
fn overdue_rounds_each_part_once() {
    // Full term: 100.03 x 1.75% x 3 / 12 = 0.43763... -> 0.44.
    // Overdue: 100.03 x 0.35% x 26 / 360 = 0.02528... -> 0.03.
    // Rounding the exact sum 0.46292... once would give 0.46 instead of 0.47.
    let deposit = deposit(dec!(100.03), "1.75", 3, date(2024, 1, 1));
    let quote = quote(&deposit, date(2024, 4, 27), rate("0.35"), None).unwrap();

    assert_eq!(quote.days_overdue, 26);
    assert_eq!(quote.interest_at_maturity, dec!(0.44));
    assert_eq!(quote.overdue_interest, dec!(0.03));
    assert_eq!(quote.interest, dec!(0.47));
}

#[test]
fn month_end_deposit_matures_on_last_day() {
    let deposit = deposit(dec!(1000.00), "1.50", 6, date(2024, 8, 31));
    let at_maturity = quote(&deposit, date(2025, 2, 28), rate("0.10"), None).unwrap();
    let day_before = quote(&deposit, date(2025, 2, 27), rate("0.10"), None).unwrap();

    assert_eq!(at_maturity.maturity_date, date(2025, 2, 28));
    assert_eq!(at_maturity.state, MaturityState::Matured);
    assert_eq!(day_before.state, MaturityState::Unmatured);
}

#[test]
fn month_end_deposit_matures_on_leap_day() {
    let deposit = deposit(dec!(1000.00), "1.50", 6, date(2023, 8, 31));
    let quote = quote(&deposit, date(2024, 2, 29), rate("0.10"), None).unwrap();

    assert_eq!(quote.maturity_date, date(2024, 2, 29));
    assert_eq!(quote.state, MaturityState::Matured);
}

#[test]
fn demand_rate_near_contract_floors_loss() {
    // A 3-month deposit opened 2024-05-01 matures 2024-08-01 after 92 days, so on day 91
    // Actual/360 pays 91/360 of a year, more than the 3/12 the contract pays.
    let deposit = deposit(dec!(100000.00), "2.00", 3, date(2024, 5, 1));
    let quote = quote(&deposit, date(2024, 7, 31), rate("2.00"), None).unwrap();

    assert_eq!(quote.days_held, 91);
    assert_eq!(quote.interest_at_maturity, dec!(500.00));
    assert_eq!(quote.interest, dec!(505.56));
    assert_eq!(quote.interest_loss, dec!(0));
}

#[test]
fn largest_principal_long_overdue() {
    let deposit = deposit(MAX_PRINCIPAL, "100", 60, date(2000, 1, 1));
    let quote = quote(&deposit, date(2999, 12, 31), rate("100"), None).unwrap();

    assert_eq!(quote.kind, WithdrawalKind::Overdue);
    assert_eq!(quote.interest_at_maturity, dec!(4999999999999.95));
    assert_eq!(quote.days_overdue, 363_415);
    // 999,999,999,999.99 x 100% x 363,415 / 360 = 1,009,486,111,111,101.01625.
    assert_eq!(quote.overdue_interest, dec!(1009486111111101.02));
    assert_eq!(quote.interest, dec!(1014486111111100.97));
}

#[test]
fn largest_principal_at_chrono_date_limits() {
    let deposit = deposit(MAX_PRINCIPAL, "100", 60, NaiveDate::MIN);
    let quote = quote(&deposit, NaiveDate::MAX, rate("100"), None).unwrap();

    assert_eq!(quote.kind, WithdrawalKind::Overdue);
    assert!(quote.overdue_interest > dec!(0));
}

// Rejected inputs, one test per error.

#[test]
fn rejects_non_positive_principal() {
    let deposit = deposit(dec!(0.00), "2.25", 12, date(2015, 7, 1));
    assert_eq!(
        quote(&deposit, date(2016, 1, 15), rate("0.35"), None),
        Err(QuoteError::PrincipalNotPositive {
            principal: dec!(0.00)
        })
    );
}

#[test]
fn rejects_principal_with_extra_places() {
    let deposit = deposit(dec!(100.005), "2.25", 12, date(2015, 7, 1));
    assert_eq!(
        quote(&deposit, date(2016, 1, 15), rate("0.35"), None),
        Err(QuoteError::PrincipalTooManyDecimalPlaces {
            principal: dec!(100.005),
            max_places: 2
        })
    );
}

#[test]
fn rejects_principal_above_maximum() {
    let deposit = deposit(dec!(1000000000000), "2.25", 12, date(2015, 7, 1));
    assert_eq!(
        quote(&deposit, date(2016, 1, 15), rate("0.35"), None),
        Err(QuoteError::PrincipalAboveMaximum {
            principal: dec!(1000000000000),
            maximum: MAX_PRINCIPAL
        })
    );
}

#[test]
fn rejects_invalid_product() {
    let mut deposit = one_year_deposit();
    deposit.product.min_remaining_principal = dec!(-50);
    assert_eq!(
        quote(&deposit, date(2016, 1, 15), rate("0.35"), None),
        Err(QuoteError::InvalidMinimumRemainingPrincipal {
            minimum: dec!(-50),
            max_places: 2
        })
    );
}

#[test]
fn rejects_date_before_opening() {
    assert_eq!(
        quote(&one_year_deposit(), date(2015, 6, 30), rate("0.35"), None),
        Err(QuoteError::DateBeforeOpening {
            on: date(2015, 6, 30),
            opened_on: date(2015, 7, 1)
        })
    );
}

#[test]
fn rejects_maturity_beyond_chrono_range() {
    let deposit = deposit(dec!(100.00), "2.25", 12, NaiveDate::MAX);
    assert_eq!(
        quote(&deposit, NaiveDate::MAX, rate("0.35"), None),
        Err(QuoteError::MaturityDateOutOfRange {
            opened_on: NaiveDate::MAX,
            term_months: 12,
            last_supported: NaiveDate::MAX
        })
    );
}

#[test]
fn rejects_non_positive_amount() {
    for amount in [dec!(0), dec!(-1.00)] {
        assert_eq!(
            quote(&partial_deposit(), date(2016, 1, 15), rate("0.35"), Some(amount)),
            Err(QuoteError::AmountNotPositive { amount })
        );
    }
}

#[test]
fn rejects_amount_with_extra_places() {
    assert_eq!(
        quote(
            &partial_deposit(),
            date(2016, 1, 15),
            rate("0.35"),
            Some(dec!(5000.001))
        ),
        Err(QuoteError::AmountTooManyDecimalPlaces {
            amount: dec!(5000.001),
            max_places: 2
        })
    );
}

#[test]
fn rejects_amount_above_balance() {
    assert_eq!(
        quote(
            &partial_deposit(),
            date(2016, 1, 15),
            rate("0.35"),
            Some(dec!(20000.01))
        ),
        Err(QuoteError::AmountAboveBalance {
            amount: dec!(20000.01),
            balance: dec!(20000.00)
        })
    );
}

#[test]
fn rejects_remainder_below_minimum() {
    assert_eq!(
        quote(
            &partial_deposit(),
            date(2016, 1, 15),
            rate("0.35"),
            Some(dec!(19950.01))
        ),
        Err(QuoteError::RemainderBelowMinimum {
            amount: dec!(19950.01),
            remaining: dec!(49.99),
            minimum: dec!(50.00)
        })
    );
}

#[test]
fn rejects_remainder_below_custom_minimum() {
    let mut deposit = partial_deposit();
    deposit.product.min_remaining_principal = dec!(10000);
    assert_eq!(
        quote(&deposit, date(2016, 1, 15), rate("0.35"), Some(dec!(10000.01))),
        Err(QuoteError::RemainderBelowMinimum {
            amount: dec!(10000.01),
            remaining: dec!(9999.99),
            minimum: dec!(10000.00)
        })
    );
}

#[test]
fn rejects_second_partial_withdrawal() {
    let mut rest = partial_deposit();
    rest.principal = dec!(15000.00);
    rest.partial_withdrawal_used = true;

    assert_eq!(
        quote(&rest, date(2016, 3, 1), rate("0.35"), Some(dec!(1000.00))),
        Err(QuoteError::SecondPartialWithdrawal)
    );
}

#[test]
fn rejects_partial_on_maturity_date() {
    assert_eq!(
        quote(
            &partial_deposit(),
            date(2016, 7, 1),
            rate("0.35"),
            Some(dec!(5000.00))
        ),
        Err(QuoteError::PartialWithdrawalAtOrAfterMaturity {
            on: date(2016, 7, 1),
            maturity_date: date(2016, 7, 1)
        })
    );
}

#[test]
fn rejects_partial_when_overdue() {
    assert_eq!(
        quote(
            &partial_deposit(),
            date(2016, 8, 10),
            rate("0.35"),
            Some(dec!(5000.00))
        ),
        Err(QuoteError::PartialWithdrawalAtOrAfterMaturity {
            on: date(2016, 8, 10),
            maturity_date: date(2016, 7, 1)
        })
    );
}

#[test]
fn error_messages_name_value_and_fix() {
    let error = quote(
        &partial_deposit(),
        date(2016, 1, 15),
        rate("0.35"),
        Some(dec!(19950.01)),
    )
    .unwrap_err();

    assert_eq!(
        error.to_string(),
        "partial withdrawal of 19950.01 would leave 49.99, which is below the product \
         minimum 50.00 (withdraw a smaller amount or the whole balance)"
    );
}

#[test]
fn withdrawal_kind_names() {
    assert_eq!(WithdrawalKind::EarlyFull.as_str(), "early_full");
    assert_eq!(WithdrawalKind::EarlyPartial.as_str(), "early_partial");
    assert_eq!(WithdrawalKind::AtMaturity.as_str(), "at_maturity");
    assert_eq!(WithdrawalKind::Overdue.to_string(), "overdue");
}
