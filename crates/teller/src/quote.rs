//! `teller quote`: the offline interest trial calculation (利息试算).
//!
//! Other tools call this command, so its flags and the JSON field names are a
//! stable interface: add fields, never rename or remove them.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use clap::Args;
use interest::{DayBasis, Deposit, MaturityState, Product, Quote, QuoteError, Rate, Term, WithdrawalKind};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::format;
use crate::lang::Lang;

/// Flags of `teller quote`. Values are taken as text and parsed here, so that
/// an invalid one gets a message in the teller's language.
#[derive(Debug, Args)]
pub struct QuoteArgs {
    /// Principal in CNY, with at most two decimal places, for example 80000.00.
    #[arg(long, value_name = "CNY")]
    principal: String,
    /// Contract rate in percent per year, for example 3.00.
    #[arg(long, value_name = "PERCENT")]
    annual_rate: String,
    /// Term in months: 3, 6, 12, 24, 36 or 60.
    #[arg(long, value_name = "MONTHS")]
    term_months: String,
    /// Opening date, YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    opened: String,
    /// Withdrawal date, YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    on: String,
    /// Demand (活期) rate posted on the withdrawal date, in percent per year.
    #[arg(long, value_name = "PERCENT")]
    demand_rate: String,
    /// Principal to withdraw in CNY; without it the whole deposit is withdrawn.
    #[arg(long, value_name = "CNY")]
    amount: Option<String>,
    /// Day basis for demand interest.
    #[arg(long, value_name = "BASIS", default_value = "actual-360")]
    day_basis: String,
    /// True when the deposit's one partial early withdrawal was already used.
    #[arg(long)]
    partial_used: bool,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    json: bool,
}

/// An invalid flag value or a withdrawal the rules do not allow, with the
/// message already in the teller's language.
#[derive(Debug)]
pub struct InvalidInput(String);

impl fmt::Display for InvalidInput {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// Runs the trial calculation and prints the result on stdout.
pub fn run(args: &QuoteArgs, lang: Lang) -> Result<(), InvalidInput> {
    let (deposit, on, demand_rate, amount) = parse(args, lang)?;
    let quote = interest::quote(&deposit, on, demand_rate, amount)
        .map_err(|error| InvalidInput(describe_quote_error(&error, lang)))?;

    if args.json {
        let report = JsonReport::new(&deposit, &quote, demand_rate);
        // Serializing a struct of strings and integers cannot fail.
        let text = serde_json::to_string_pretty(&report).expect("report serializes");
        println!("{text}");
    } else {
        print!("{}", summary(&deposit, &quote, demand_rate, lang));
    }
    Ok(())
}

fn parse(args: &QuoteArgs, lang: Lang) -> Result<(Deposit, NaiveDate, Rate, Option<Decimal>), InvalidInput> {
    let principal = parse_amount("--principal", &args.principal, lang)?;
    let contract_rate = parse_rate("--annual-rate", &args.annual_rate, lang)?;
    let term = parse_term(&args.term_months, lang)?;
    let opened_on = parse_date("--opened", &args.opened, lang)?;
    let on = parse_date("--on", &args.on, lang)?;
    let demand_rate = parse_rate("--demand-rate", &args.demand_rate, lang)?;
    let amount = match &args.amount {
        Some(text) => Some(parse_amount("--amount", text, lang)?),
        None => None,
    };
    let day_basis = DayBasis::from_str(&args.day_basis).map_err(|_| {
        invalid(
            lang,
            "--day-basis",
            &args.day_basis,
            "应为 actual-360 或 actual-365",
            "expected actual-360 or actual-365",
        )
    })?;

    let deposit = Deposit {
        principal,
        contract_rate,
        term,
        opened_on,
        product: Product {
            day_basis,
            ..Product::default()
        },
        partial_withdrawal_used: args.partial_used,
    };
    Ok((deposit, on, demand_rate, amount))
}

fn invalid(lang: Lang, flag: &str, value: &str, fix_zh: &str, fix_en: &str) -> InvalidInput {
    InvalidInput(match lang {
        Lang::ZhCn => format!("错误：{flag} 的值 {value:?} 无效，{fix_zh}。"),
        Lang::En => format!("error: invalid value {value:?} for {flag}: {fix_en}."),
    })
}

/// Parses a CNY amount: plain digits with an optional point and at most two
/// decimal places. Signs, exponents and grouping separators are rejected so
/// that a typo never becomes a different amount.
pub(crate) fn parse_amount(flag: &str, text: &str, lang: Lang) -> Result<Decimal, InvalidInput> {
    let fix_zh = "应为最多两位小数的正数金额（元），例如 80000.00";
    let fix_en = "expected a positive CNY amount with at most two decimal places, such as 80000.00";
    let (integer, fraction) = text.split_once('.').unwrap_or((text, ""));
    let well_formed = !integer.is_empty()
        && integer.len() <= 15
        && integer.bytes().all(|byte| byte.is_ascii_digit())
        && fraction.len() <= 2
        && fraction.bytes().all(|byte| byte.is_ascii_digit())
        && !(text.contains('.') && fraction.is_empty());
    if !well_formed {
        return Err(invalid(lang, flag, text, fix_zh, fix_en));
    }
    let amount = Decimal::from_str(text).map_err(|_| invalid(lang, flag, text, fix_zh, fix_en))?;
    if amount.is_zero() {
        return Err(invalid(lang, flag, text, fix_zh, fix_en));
    }
    Ok(amount)
}

fn parse_rate(flag: &str, text: &str, lang: Lang) -> Result<Rate, InvalidInput> {
    Rate::from_str(text).map_err(|_| {
        invalid(
            lang,
            flag,
            text,
            "应为 0 到 100 之间的年利率百分数，最多六位小数，例如 3.00",
            "expected an annual percent from 0 to 100 with at most six decimal places, such as 3.00",
        )
    })
}

fn parse_term(text: &str, lang: Lang) -> Result<Term, InvalidInput> {
    let fix_zh = "存期应为 3、6、12、24、36 或 60 个月";
    let fix_en = "expected 3, 6, 12, 24, 36 or 60 months";
    let months: u32 = text
        .parse()
        .map_err(|_| invalid(lang, "--term-months", text, fix_zh, fix_en))?;
    Term::try_from(months).map_err(|_| invalid(lang, "--term-months", text, fix_zh, fix_en))
}

fn parse_date(flag: &str, text: &str, lang: Lang) -> Result<NaiveDate, InvalidInput> {
    let fix_zh = "应为 YYYY-MM-DD 格式的日期，例如 2025-02-22";
    let fix_en = "expected a date as YYYY-MM-DD, such as 2025-02-22";
    if text.len() != 10 {
        return Err(invalid(lang, flag, text, fix_zh, fix_en));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| invalid(lang, flag, text, fix_zh, fix_en))
}

/// Turns a rule violation into a message in the teller's language. The
/// English text is the interest crate's own message, which already names the
/// value and the fix.
fn describe_quote_error(error: &QuoteError, lang: Lang) -> String {
    if lang == Lang::En {
        return format!("error: {error}.");
    }
    let detail = match error {
        QuoteError::DateBeforeOpening { on, opened_on } => {
            format!("支取日 {on} 早于开户日 {opened_on}，请检查 --on 与 --opened")
        }
        QuoteError::AmountAboveBalance { amount, balance } => format!(
            "支取金额 {} 元超过本金 {} 元，请减少 --amount",
            format::amount(*amount),
            format::amount(*balance)
        ),
        QuoteError::RemainderBelowMinimum {
            remaining, minimum, ..
        } => format!(
            "部分支取后剩余本金 {} 元低于最低留存 {} 元，请减少 --amount 或去掉 --amount 全额支取",
            format::amount(*remaining),
            format::amount(*minimum)
        ),
        QuoteError::SecondPartialWithdrawal => {
            "该笔存款已办理过一次部分提前支取，不能再次部分支取，请去掉 --amount 全额支取".to_owned()
        }
        QuoteError::PartialWithdrawalAtOrAfterMaturity { maturity_date, .. } => {
            format!("该笔存款到期日为 {maturity_date}，到期及逾期后只能全额支取，请去掉 --amount")
        }
        QuoteError::PrincipalAboveMaximum { maximum, .. } => {
            format!("本金超过上限 {} 元", format::amount(*maximum))
        }
        QuoteError::MaturityDateOutOfRange { .. } => "到期日超出支持的日期范围，请检查 --opened".to_owned(),
        other => format!("输入无效：{other}"),
    };
    format!("错误：{detail}。")
}

fn state_name(state: MaturityState, lang: Lang) -> &'static str {
    match state {
        MaturityState::Unmatured => lang.pick("未到期", "unmatured"),
        MaturityState::Matured => lang.pick("已到期", "matured"),
        MaturityState::Overdue => lang.pick("已逾期", "overdue"),
    }
}

fn kind_name(kind: WithdrawalKind, lang: Lang) -> &'static str {
    match kind {
        WithdrawalKind::EarlyFull => lang.pick("全额提前支取", "early withdrawal of the whole deposit"),
        WithdrawalKind::EarlyPartial => lang.pick("部分提前支取", "partial early withdrawal"),
        WithdrawalKind::AtMaturity => lang.pick("到期支取", "withdrawal at maturity"),
        WithdrawalKind::Overdue => lang.pick("逾期支取", "overdue withdrawal"),
    }
}

fn kind_code(kind: WithdrawalKind) -> &'static str {
    match kind {
        WithdrawalKind::EarlyFull => "early_full",
        WithdrawalKind::EarlyPartial => "early_partial",
        WithdrawalKind::AtMaturity => "at_maturity",
        WithdrawalKind::Overdue => "overdue",
    }
}

fn day_basis_name(day_basis: DayBasis, lang: Lang) -> &'static str {
    match day_basis {
        DayBasis::Actual360 => lang.pick("实际天数/360", "actual/360"),
        DayBasis::Actual365 => lang.pick("实际天数/365", "actual/365"),
    }
}

/// Writes the plain-text summary for the teller's screen.
fn summary(deposit: &Deposit, quote: &Quote, demand_rate: Rate, lang: Lang) -> String {
    let yuan = lang.pick(" 元", " CNY");
    let money = |value: Decimal| format!("{}{yuan}", format::amount(value));
    let rate_label = if quote.kind == WithdrawalKind::EarlyFull || quote.kind == WithdrawalKind::EarlyPartial
    {
        format!(
            "{} {}%",
            lang.pick("活期", "demand"),
            quote.rate_applied.percent()
        )
    } else {
        format!(
            "{} {}%",
            lang.pick("定期", "contract"),
            quote.rate_applied.percent()
        )
    };

    let mut rows: Vec<(&str, String)> = vec![
        (lang.pick("本金", "Principal"), money(deposit.principal)),
        (
            lang.pick("存期", "Term"),
            format!("{}{}", deposit.term.months(), lang.pick(" 个月", " months")),
        ),
        (
            lang.pick("年利率", "Contract rate"),
            format!("{}%", deposit.contract_rate.percent()),
        ),
        (lang.pick("开户日", "Opened"), deposit.opened_on.to_string()),
        (
            lang.pick("到期日", "Maturity date"),
            quote.maturity_date.to_string(),
        ),
        (lang.pick("支取日", "Withdrawal date"), quote.on.to_string()),
        (
            lang.pick("状态", "State"),
            state_name(quote.state, lang).to_owned(),
        ),
        (
            lang.pick("支取方式", "Withdrawal"),
            kind_name(quote.kind, lang).to_owned(),
        ),
        (
            lang.pick("存期天数", "Days held"),
            format!("{}{}", quote.days_held, lang.pick(" 天", " days")),
        ),
        (
            lang.pick("计息利率", "Rate applied"),
            format!(
                "{rate_label} ({})",
                day_basis_name(deposit.product.day_basis, lang)
            ),
        ),
        (
            lang.pick("支取本金", "Principal withdrawn"),
            money(quote.amount_withdrawn),
        ),
        (
            lang.pick("剩余本金", "Principal remaining"),
            money(quote.remaining_principal),
        ),
    ];
    if quote.kind == WithdrawalKind::Overdue {
        rows.push((
            lang.pick("逾期天数", "Days overdue"),
            format!("{}{}", quote.days_overdue, lang.pick(" 天", " days")),
        ));
        rows.push((
            lang.pick("逾期利息", "Overdue interest"),
            format!(
                "{} ({} {}%)",
                money(quote.overdue_interest),
                lang.pick("活期", "demand"),
                demand_rate.percent()
            ),
        ));
    }
    rows.push((lang.pick("本次利息", "Interest now"), money(quote.interest)));
    rows.push((
        lang.pick("到期利息", "Interest at maturity"),
        money(quote.interest_at_maturity),
    ));
    rows.push((lang.pick("利息损失", "Interest lost"), money(quote.interest_loss)));
    if quote.kind == WithdrawalKind::EarlyPartial {
        rows.push((
            lang.pick("剩余本金到期利息", "Remainder's interest at maturity"),
            money(quote.remaining_interest_at_maturity),
        ));
    }
    rows.push((
        lang.pick("本息合计", "Total paid"),
        money(quote.amount_withdrawn + quote.interest),
    ));

    let mut text = format!(
        "{}\n",
        lang.pick(
            "利息试算（整存整取，仅供参考）",
            "Interest trial calculation (lump-sum time deposit, for reference only)"
        )
    );
    let separator = lang.pick("：", ": ");
    for (label, value) in rows {
        text.push_str(&format!("  {label}{separator}{value}\n"));
    }
    if quote.interest_loss > Decimal::ZERO {
        text.push_str(&match lang {
            Lang::ZhCn => format!(
                "提示：该笔存款未到期，提前支取按活期利率计息，客户将损失利息 {}。\n",
                money(quote.interest_loss)
            ),
            Lang::En => format!(
                "Warning: the deposit has not matured; withdrawing now earns the demand rate and the customer loses {} of interest.\n",
                money(quote.interest_loss)
            ),
        });
    }
    text
}

/// The `--json` output. Amounts are strings with two decimal places so that
/// no JSON reader turns them into binary floating point.
#[derive(Debug, Serialize)]
struct JsonReport {
    state: &'static str,
    withdrawal_kind: &'static str,
    maturity_date: String,
    business_date: String,
    opened_on: String,
    days_held: u32,
    days_overdue: u32,
    principal: String,
    amount: String,
    remaining_principal: String,
    interest: String,
    interest_at_maturity: String,
    interest_loss: String,
    overdue_interest: String,
    remaining_interest_at_maturity: String,
    total_payout: String,
    contract_rate_percent: String,
    demand_rate_percent: String,
    applied_rate_percent: String,
    day_basis: &'static str,
}

impl JsonReport {
    fn new(deposit: &Deposit, quote: &Quote, demand_rate: Rate) -> Self {
        let fen = |value: Decimal| {
            let mut value = value;
            value.rescale(2);
            value.to_string()
        };
        JsonReport {
            state: quote.state.as_str(),
            withdrawal_kind: kind_code(quote.kind),
            maturity_date: quote.maturity_date.to_string(),
            business_date: quote.on.to_string(),
            opened_on: deposit.opened_on.to_string(),
            days_held: quote.days_held,
            days_overdue: quote.days_overdue,
            principal: fen(deposit.principal),
            amount: fen(quote.amount_withdrawn),
            remaining_principal: fen(quote.remaining_principal),
            interest: fen(quote.interest),
            interest_at_maturity: fen(quote.interest_at_maturity),
            interest_loss: fen(quote.interest_loss),
            overdue_interest: fen(quote.overdue_interest),
            remaining_interest_at_maturity: fen(quote.remaining_interest_at_maturity),
            total_payout: fen(quote.amount_withdrawn + quote.interest),
            contract_rate_percent: deposit.contract_rate.percent().to_string(),
            demand_rate_percent: demand_rate.percent().to_string(),
            applied_rate_percent: quote.rate_applied.percent().to_string(),
            day_basis: deposit.product.day_basis.as_str(),
        }
    }
}
