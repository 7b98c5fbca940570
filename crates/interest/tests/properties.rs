//! Property tests of `interest::quote` over generated deposits and dates.

use chrono::{Datelike, Days, NaiveDate};
use interest::{DayBasis, Deposit, MAX_PRINCIPAL, Product, Rate, Term, quote};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// Largest principal in fen.
const MAX_PRINCIPAL_FEN: i64 = 99_999_999_999_999;

/// Maximum rate, 100%, in millionths of a percent (the finest step a `Rate` accepts).
const MAX_RATE_MILLIONTHS: i64 = 100_000_000;

fn valid_term() -> impl Strategy<Value = Term> {
    proptest::sample::select(Term::ALLOWED_MONTHS.to_vec()).prop_map(|months| Term::try_from(months).unwrap())
}

fn rate_from_millionths(millionths: i64) -> Rate {
    Rate::from_percent(Decimal::new(millionths, 6)).unwrap()
}

fn valid_rate() -> impl Strategy<Value = Rate> {
    (0..=MAX_RATE_MILLIONTHS).prop_map(rate_from_millionths)
}

fn day_basis() -> impl Strategy<Value = DayBasis> {
    prop_oneof![Just(DayBasis::Actual360), Just(DayBasis::Actual365)]
}

/// Opening dates from 1990-01-01 to 2099-07-07.
fn opening_date() -> impl Strategy<Value = NaiveDate> {
    let first = NaiveDate::from_ymd_opt(1990, 1, 1).unwrap();
    (0_u64..40_000).prop_map(move |offset| first + Days::new(offset))
}

fn valid_deposit() -> impl Strategy<Value = Deposit> {
    (
        1..=MAX_PRINCIPAL_FEN,
        valid_rate(),
        valid_term(),
        opening_date(),
        day_basis(),
        0_i64..=1_000_000,
        any::<bool>(),
    )
        .prop_map(
            |(fen, contract_rate, term, opened_on, day_basis, minimum_fen, used)| Deposit {
                principal: Decimal::new(fen, 2),
                contract_rate,
                term,
                opened_on,
                product: Product {
                    day_basis,
                    min_remaining_principal: Decimal::new(minimum_fen, 2),
                    minor_unit_digits: 2,
                },
                partial_withdrawal_used: used,
            },
        )
}

/// Any decimal a `Decimal` can hold: 96-bit mantissa and scale 0 to 28.
fn any_decimal() -> impl Strategy<Value = Decimal> {
    let max_mantissa = (1_i128 << 96) - 1;
    (-max_mantissa..=max_mantissa, 0_u32..=28)
        .prop_map(|(mantissa, scale)| Decimal::from_i128_with_scale(mantissa, scale))
}

/// Either any decimal or a whole number of fen up to the maximum principal, so that
/// arbitrary values also reach the checks after principal validation.
fn decimal_or_fen() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        any_decimal(),
        (1..=MAX_PRINCIPAL_FEN).prop_map(|fen| Decimal::new(fen, 2)),
    ]
}

/// Any date chrono can represent.
fn any_date() -> impl Strategy<Value = NaiveDate> {
    let first = NaiveDate::MIN.num_days_from_ce();
    let last = NaiveDate::MAX.num_days_from_ce();
    (first..=last).prop_map(|days| NaiveDate::from_num_days_from_ce_opt(days).unwrap())
}

proptest! {
    /// The demand rate is at most 45/46 of the contract rate. A term can hold more days
    /// than months x 30, and a 6-month term holds up to 184 days. So on its last early
    /// day it has earned 183/180 of the 180 days that the contract rate pays for, and a
    /// demand rate within about 1.7% of the contract rate can pay more than at maturity.
    #[test]
    fn early_interest_within_maturity_interest(
        mut deposit in valid_deposit(),
        contract_millionths in 0..=MAX_RATE_MILLIONTHS,
        demand_seed in any::<i64>(),
        day_seed in any::<u64>(),
        amount_fen in proptest::option::of(1..=MAX_PRINCIPAL_FEN),
    ) {
        let max_demand_millionths = contract_millionths * 45 / 46;
        let demand_millionths = demand_seed.rem_euclid(max_demand_millionths + 1);
        deposit.contract_rate = rate_from_millionths(contract_millionths);
        let demand_rate = rate_from_millionths(demand_millionths);

        let maturity = deposit.maturity_date().unwrap();
        let term_days = u64::try_from((maturity - deposit.opened_on).num_days()).unwrap();
        let on = deposit.opened_on + Days::new(day_seed % term_days);
        let amount = amount_fen.map(|fen| Decimal::new(fen, 2));

        if let Ok(quote) = quote(&deposit, on, demand_rate, amount) {
            prop_assert!(quote.interest <= quote.interest_at_maturity);
            prop_assert_eq!(quote.interest_loss, quote.interest_at_maturity - quote.interest);
        }
    }

    #[test]
    fn interest_never_negative(
        deposit in valid_deposit(),
        demand_rate in valid_rate(),
        days_after_opening in 0_u64..100_000,
        amount_fen in proptest::option::of(1..=MAX_PRINCIPAL_FEN),
    ) {
        let on = deposit.opened_on + Days::new(days_after_opening);
        let amount = amount_fen.map(|fen| Decimal::new(fen, 2));

        if let Ok(quote) = quote(&deposit, on, demand_rate, amount) {
            prop_assert!(quote.interest >= Decimal::ZERO);
            prop_assert!(quote.interest_at_maturity >= Decimal::ZERO);
            prop_assert!(quote.interest_loss >= Decimal::ZERO);
            prop_assert!(quote.overdue_interest >= Decimal::ZERO);
            prop_assert!(quote.remaining_interest_at_maturity >= Decimal::ZERO);
        }
    }

    #[test]
    fn partial_amount_plus_remainder_is_principal(
        deposit in valid_deposit(),
        demand_rate in valid_rate(),
        day_seed in any::<u64>(),
        amount_seed in any::<i64>(),
    ) {
        let maturity = deposit.maturity_date().unwrap();
        let term_days = u64::try_from((maturity - deposit.opened_on).num_days()).unwrap();
        let on = deposit.opened_on + Days::new(day_seed % term_days);
        let principal_fen = i64::try_from(deposit.principal.mantissa()).unwrap();
        let amount = Decimal::new(amount_seed.rem_euclid(principal_fen) + 1, 2);

        if let Ok(quote) = quote(&deposit, on, demand_rate, Some(amount)) {
            prop_assert_eq!(quote.amount_withdrawn, amount);
            prop_assert_eq!(quote.amount_withdrawn + quote.remaining_principal, deposit.principal);
        }
    }

    #[test]
    fn quote_never_panics(
        principal in decimal_or_fen(),
        contract_percent in any_decimal(),
        contract_fallback in valid_rate(),
        demand_percent in any_decimal(),
        demand_fallback in valid_rate(),
        months in prop_oneof![
            proptest::sample::select(Term::ALLOWED_MONTHS.to_vec()),
            any::<u32>()
        ],
        opened_on in any_date(),
        on in any_date(),
        day_basis in day_basis(),
        min_remaining_principal in decimal_or_fen(),
        minor_unit_digits in prop_oneof![0_u32..=5, any::<u32>()],
        partial_withdrawal_used in any::<bool>(),
        amount in proptest::option::of(decimal_or_fen()),
    ) {
        // Arbitrary decimals are mostly invalid rates, so a valid generated rate stands in
        // for them after the parse has been exercised.
        let contract_rate = Rate::from_percent(contract_percent).unwrap_or(contract_fallback);
        let demand_rate = Rate::from_percent(demand_percent).unwrap_or(demand_fallback);
        let term = Term::try_from(months).unwrap_or_else(|_| Term::try_from(12).unwrap());
        let deposit = Deposit {
            principal,
            contract_rate,
            term,
            opened_on,
            product: Product { day_basis, min_remaining_principal, minor_unit_digits },
            partial_withdrawal_used,
        };

        let _ = quote(&deposit, on, demand_rate, amount);
    }

    /// Valid deposits up to the maximum principal and rate, quoted up to 100,000 days after
    /// opening, always compute without overflow.
    #[test]
    fn valid_full_withdrawal_always_quotes(
        deposit in valid_deposit(),
        demand_rate in valid_rate(),
        days_after_opening in 0_u64..100_000,
    ) {
        let on = deposit.opened_on + Days::new(days_after_opening);
        prop_assert!(deposit.principal <= MAX_PRINCIPAL);
        prop_assert!(quote(&deposit, on, demand_rate, None).is_ok());
    }
}
