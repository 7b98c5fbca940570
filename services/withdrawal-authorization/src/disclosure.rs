//! The interest-loss disclosure (利息损失告知), written from the attested
//! figures in Chinese and English. The customer's acknowledgement is bound to
//! the SHA-256 of the exact text they were shown.

use bank_proto::common::{InterestQuote, Money};
use bank_proto::deposit::MaturityAttestation;
use grpc_support::convert::{format_amount_grouped, minor_unit_digits};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

/// Language tag of the Chinese text.
pub const ZH_CN: &str = "zh-CN";
/// Language tag of the English text.
pub const EN: &str = "en";

/// SHA-256 of a text's UTF-8 bytes in lowercase hex.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn amount(money: &Option<Money>) -> String {
    let Some(money) = money else {
        return "-".to_owned();
    };
    let places = minor_unit_digits(&money.currency_code).unwrap_or(2);
    match Decimal::from_str_exact(&money.amount) {
        Ok(value) => format_amount_grouped(value, places),
        Err(_) => money.amount.clone(),
    }
}

/// Writes the disclosure in zh-CN and en. Both texts state the deposit, its
/// state and maturity date, the rate applied, the interest now, the interest
/// at maturity and the loss.
pub fn write(attestation: &MaturityAttestation, quote: &InterestQuote) -> (String, String) {
    let currency = attestation
        .requested_amount
        .as_ref()
        .map(|money| money.currency_code.as_str())
        .unwrap_or("CNY");
    let unit_zh = if currency == "CNY" {
        "元".to_owned()
    } else {
        currency.to_owned()
    };
    let zh = format!(
        "利息损失告知书\n\
         存折号：{passbook}\n\
         存款编号：{deposit}\n\
         存款本金：{principal} {unit_zh}，存期 {term} 个月，年利率 {contract}%\n\
         开户日：{opened}，到期日：{maturity}\n\
         存款状态：未到期（营业日 {business}）\n\
         本次支取本金：{amount} {unit_zh}，按提前支取办理，按支取日挂牌活期利率 {applied}% 计息，计息天数 {days} 天\n\
         本次支取可得利息：{interest} {unit_zh}\n\
         如持有至到期可得利息：{at_maturity} {unit_zh}\n\
         提前支取损失利息：{loss} {unit_zh}\n\
         本人已知悉该笔定期存款尚未到期，提前支取将损失上述利息，确认办理。\n",
        passbook = attestation.passbook_number,
        deposit = attestation.deposit_id,
        principal = amount(&attestation.balance),
        term = attestation.term_months,
        contract = attestation.contract_rate_percent,
        opened = attestation.opened_on,
        maturity = attestation.maturity_date,
        business = attestation.business_date,
        amount = amount(&quote.amount),
        applied = quote.applied_rate_percent,
        days = quote.days_held,
        interest = amount(&quote.interest),
        at_maturity = amount(&quote.interest_at_maturity),
        loss = amount(&quote.interest_loss),
    );
    let en = format!(
        "Interest-loss disclosure\n\
         Passbook: {passbook}\n\
         Deposit: {deposit}\n\
         Principal: {principal} {currency}, term {term} months, contract rate {contract}% a year\n\
         Opened: {opened}, matures: {maturity}\n\
         State: unmatured (business date {business})\n\
         Principal withdrawn now: {amount} {currency}, as an early withdrawal at the demand rate of {applied}% \
         posted today, for {days} days\n\
         Interest paid now: {interest} {currency}\n\
         Interest if held to maturity: {at_maturity} {currency}\n\
         Interest lost by withdrawing early: {loss} {currency}\n\
         I understand that this time deposit has not matured and that withdrawing it now loses the interest \
         above, and I confirm the withdrawal.\n",
        passbook = attestation.passbook_number,
        deposit = attestation.deposit_id,
        principal = amount(&attestation.balance),
        term = attestation.term_months,
        contract = attestation.contract_rate_percent,
        opened = attestation.opened_on,
        maturity = attestation.maturity_date,
        business = attestation.business_date,
        amount = amount(&quote.amount),
        applied = quote.applied_rate_percent,
        days = quote.days_held,
        interest = amount(&quote.interest),
        at_maturity = amount(&quote.interest_at_maturity),
        loss = amount(&quote.interest_loss),
    );
    (zh, en)
}
