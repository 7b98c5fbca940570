//! Text for the teller's screen: the passbook table, an authorization as a
//! supervisor checks it, the payout slip and the audit trail.

use std::io::IsTerminal;

use bank_proto::common::{InterestQuote, Money};
use bank_proto::deposit::{DepositState, GetPassbookResponse, PassbookStatus, Payout};
use bank_proto::withdrawal::{
    AuditEntry, AuditEventType, AuditRecord, Authorization, CaptureMethod, DisclosureText, IdDocumentType,
    RequirementKind, SupervisorFlag,
};
use chrono::{DateTime, FixedOffset, Utc};
use grpc_support::convert::{format_amount_grouped, minor_unit_digits};
use prost::Message;
use rust_decimal::Decimal;
use unicode_width::UnicodeWidthStr;

use crate::lang::Lang;
use crate::terms;

/// Marker in front of every unmatured deposit, with or without colour.
pub const UNMATURED_MARKER: &str = "⚠";

/// Whether to colour text. Colour is plain ANSI escape codes, used only when
/// stdout is a terminal and NO_COLOR (https://no-color.org) is unset.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    colour: bool,
}

impl Style {
    pub fn for_stdout() -> Style {
        Style {
            colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    /// Red and bold, for what must stand out: unmatured deposits, losses.
    pub fn alert(&self, text: &str) -> String {
        self.paint("1;31", text)
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    pub fn good(&self, text: &str) -> String {
        self.paint("32", text)
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// Formats an amount with thousands separators, "80,000.00". A malformed
/// amount is shown as received.
pub fn amount(money: Option<&Money>) -> String {
    let Some(money) = money else {
        return "—".to_owned();
    };
    let places = minor_unit_digits(&money.currency_code).unwrap_or(2);
    match Decimal::from_str_exact(&money.amount) {
        Ok(value) => format_amount_grouped(value, places),
        Err(_) => money.amount.clone(),
    }
}

/// Formats an amount with its unit: "80,000.00 元" or "80,000.00 CNY".
pub fn money(money: Option<&Money>, lang: Lang) -> String {
    let Some(value) = money else {
        return "—".to_owned();
    };
    let unit = if lang == Lang::ZhCn && value.currency_code == "CNY" {
        "元"
    } else {
        value.currency_code.as_str()
    };
    format!("{} {unit}", amount(money))
}

/// Formats an instant in Beijing time (UTC+8, no daylight saving), the time
/// zone of PRC branches.
pub fn time(timestamp: Option<&prost_types::Timestamp>) -> String {
    let Some(timestamp) = timestamp else {
        return "—".to_owned();
    };
    let Some(instant) = DateTime::<Utc>::from_timestamp(timestamp.seconds, timestamp.nanos.max(0) as u32)
    else {
        return "—".to_owned();
    };
    let beijing = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    instant
        .with_timezone(&beijing)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Lays out a table with columns padded to their display width, which
/// counts a Chinese character as two columns. Rows whose `highlight` is true
/// are painted with `Style::alert` after padding, so escape codes never
/// shift the columns.
pub fn table(headers: &[&str], rows: &[(Vec<String>, bool)], right_aligned: &[bool], style: Style) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|header| header.width()).collect();
    for (cells, _) in rows {
        for (index, cell) in cells.iter().enumerate() {
            if let Some(width) = widths.get_mut(index) {
                *width = (*width).max(cell.width());
            }
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(index, cell)| {
                let width = widths.get(index).copied().unwrap_or(0);
                let fill = " ".repeat(width.saturating_sub(cell.width()));
                if right_aligned.get(index).copied().unwrap_or(false) {
                    format!("{fill}{cell}")
                } else {
                    format!("{cell}{fill}")
                }
            })
            .collect();
        padded.join("  ").trim_end().to_owned()
    };

    let header_cells: Vec<String> = headers.iter().map(|header| (*header).to_owned()).collect();
    let mut text = style.bold(&line(&header_cells));
    text.push('\n');
    let total_width = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
    text.push_str(&"-".repeat(total_width));
    text.push('\n');
    for (cells, highlight) in rows {
        let row = line(cells);
        if *highlight {
            text.push_str(&style.alert(&row));
        } else {
            text.push_str(&row);
        }
        text.push('\n');
    }
    text
}

/// Writes the passbook view: the passbook's status and every deposit, with
/// each unmatured deposit marked and coloured, and what a full withdrawal
/// today pays and loses.
pub fn passbook(view: &GetPassbookResponse, lang: Lang, style: Style) -> String {
    let passbook = view.passbook.clone().unwrap_or_default();
    let mut text = match lang {
        Lang::ZhCn => format!(
            "一本通/存折 {}　户名：{}　证件号码：{}　开户网点：{}\n存折状态：{}　营业日：{}\n\n",
            passbook.passbook_number,
            passbook.customer_name,
            passbook.masked_id_number,
            passbook.branch_id,
            terms::passbook_status(&passbook, lang),
            view.business_date
        ),
        Lang::En => format!(
            "Passbook {}  Customer: {}  ID: {}  Branch: {}\nStatus: {}  Business date: {}\n\n",
            passbook.passbook_number,
            passbook.customer_name,
            passbook.masked_id_number,
            passbook.branch_id,
            terms::passbook_status(&passbook, lang),
            view.business_date
        ),
    };

    let headers = [
        lang.pick("存款编号", "Deposit"),
        lang.pick("状态", "State"),
        lang.pick("开户日", "Opened"),
        lang.pick("存期", "Term"),
        lang.pick("到期日", "Matures"),
        lang.pick("年利率", "Rate"),
        lang.pick("余额", "Balance"),
        lang.pick("今日全额支取利息", "Interest if withdrawn today"),
        lang.pick("利息损失", "Interest lost"),
    ];
    let mut rows = Vec::new();
    let mut unmatured = 0;
    let mut total_loss = Decimal::ZERO;
    for deposit in &view.deposits {
        let state = deposit.state();
        let mut state_text = terms::deposit_state(state, lang).to_owned();
        if state == DepositState::Unmatured {
            unmatured += 1;
            state_text = format!("{UNMATURED_MARKER} {state_text}");
        }
        let quote = deposit.full_withdrawal_quote.as_ref();
        if let Some(loss) = quote.and_then(|quote| quote.interest_loss.as_ref())
            && let Ok(value) = Decimal::from_str_exact(&loss.amount)
        {
            total_loss += value;
        }
        rows.push((
            vec![
                deposit.deposit_id.clone(),
                state_text,
                deposit.opened_on.clone(),
                format!("{}{}", deposit.term_months, lang.pick(" 个月", " months")),
                deposit.maturity_date.clone(),
                format!("{}%", deposit.contract_rate_percent),
                amount(deposit.balance.as_ref()),
                amount(quote.and_then(|quote| quote.interest.as_ref())),
                amount(quote.and_then(|quote| quote.interest_loss.as_ref())),
            ],
            state == DepositState::Unmatured,
        ));
    }
    let right = [false, false, false, true, false, true, true, true, true];
    text.push_str(&table(&headers, &rows, &right, style));
    text.push('\n');

    let open = view
        .deposits
        .iter()
        .filter(|deposit| terms::is_open(deposit.state()))
        .count();
    text.push_str(&match lang {
        Lang::ZhCn => format!(
            "共 {} 笔定期存款，{open} 笔未支取，其中 {unmatured} 笔未到期。\n",
            view.deposits.len()
        ),
        Lang::En => format!(
            "Time deposits: {}, not withdrawn: {open}, unmatured: {unmatured}.\n",
            view.deposits.len()
        ),
    });
    if unmatured > 0 {
        let loss = format_amount_grouped(total_loss, 2);
        let warning = match lang {
            Lang::ZhCn => format!(
                "{UNMATURED_MARKER} 未到期存款提前支取按活期利率计息，全部今日支取将损失利息 {loss} 元；须向客户出示利息损失告知并经营运主管授权。"
            ),
            Lang::En => format!(
                "{UNMATURED_MARKER} Unmatured deposits withdrawn early earn the demand rate: withdrawing all of them today loses {loss} CNY of interest. The customer must acknowledge the interest-loss disclosure and a supervisor must co-sign."
            ),
        };
        text.push_str(&style.alert(&warning));
        text.push('\n');
    }
    match passbook.status() {
        PassbookStatus::ReportedLost => {
            let warning = lang.pick(
                "⚠ 该存折已挂失，不能办理支取；请办理挂失补发后使用新存折。",
                "⚠ This passbook is reported lost: no withdrawal is possible until it is reissued.",
            );
            text.push_str(&style.alert(warning));
            text.push('\n');
        }
        PassbookStatus::Replaced => {
            let warning = match lang {
                Lang::ZhCn => format!(
                    "⚠ 该存折已挂失补发，原存折号作废；请使用新存折 {} 办理。",
                    passbook.replaced_by_passbook_number
                ),
                Lang::En => format!(
                    "⚠ This passbook was replaced after a loss report and its number is dead: use {}.",
                    passbook.replaced_by_passbook_number
                ),
            };
            text.push_str(&style.alert(&warning));
            text.push('\n');
        }
        _ => {}
    }
    text
}

/// Returns the disclosure text in the client's language, or the other
/// language's text when that one is missing.
pub fn disclosure(authorization: &Authorization, lang: Lang) -> Option<&DisclosureText> {
    let language = match lang {
        Lang::ZhCn => "zh-CN",
        Lang::En => "en",
    };
    authorization
        .disclosure
        .iter()
        .find(|text| text.language == language)
        .or_else(|| authorization.disclosure.first())
}

/// True when the authorization needs the customer's acknowledgement that it
/// does not have yet.
pub fn needs_acknowledgement(authorization: &Authorization) -> bool {
    authorization.requirements.iter().any(|requirement| {
        requirement.kind() == RequirementKind::DisclosureAcknowledgement && !requirement.satisfied
    })
}

/// True when the customer loses interest on this authorization.
pub fn loses_interest(authorization: &Authorization) -> bool {
    authorization
        .requirements
        .iter()
        .any(|requirement| requirement.kind() == RequirementKind::DisclosureAcknowledgement)
}

fn quote_of(authorization: &Authorization) -> InterestQuote {
    authorization
        .attestation
        .as_ref()
        .and_then(|attestation| attestation.quote.clone())
        .unwrap_or_default()
}

/// Writes everything a supervisor checks before co-signing: state, dates,
/// rates, amounts, flags, identity check, requirements, the acknowledgement
/// and earlier decisions, and the digest the co-signature names.
pub fn authorization(authorization: &Authorization, lang: Lang, style: Style) -> String {
    let attestation = authorization.attestation.clone().unwrap_or_default();
    let quote = quote_of(authorization);
    let label = |zh: &str, en: &str| lang.pick(zh, en).to_owned();
    let whole = if authorization.whole_deposit {
        lang.pick("全额", "whole deposit")
    } else {
        lang.pick("部分", "part")
    };
    let deposit_state = attestation.deposit_state();
    let mut state_text = terms::deposit_state(deposit_state, lang).to_owned();
    if deposit_state == DepositState::Unmatured {
        state_text = style.alert(&format!("{UNMATURED_MARKER} {state_text}"));
    }
    let rows: Vec<(String, String)> = vec![
        (
            label("授权编号", "Authorization"),
            authorization.authorization_id.clone(),
        ),
        (
            label("授权状态", "State"),
            terms::authorization_state(authorization.state(), lang).to_owned(),
        ),
        (
            label("经办柜员", "Teller"),
            format!("{}（{}）", authorization.teller_staff_id, authorization.branch_id),
        ),
        (
            label("存折/存款", "Passbook/deposit"),
            format!("{} / {}", authorization.passbook_number, authorization.deposit_id),
        ),
        (
            label("支取", "Withdrawal"),
            format!(
                "{whole} {}，{}",
                money(authorization.amount.as_ref(), lang),
                terms::withdrawal_kind(quote.withdrawal_kind(), lang)
            ),
        ),
        (label("存款状态", "Deposit state"), state_text),
        (
            label("开户日/到期日", "Opened/matures"),
            format!(
                "{} / {}（{}{}）",
                attestation.opened_on,
                attestation.maturity_date,
                attestation.term_months,
                lang.pick(" 个月", " months")
            ),
        ),
        (
            label("营业日", "Business date"),
            attestation.business_date.clone(),
        ),
        (
            label("利率", "Rates"),
            match lang {
                Lang::ZhCn => format!(
                    "合同年利率 {}%，活期利率 {}%，本次计息利率 {}%，计息天数 {} 天",
                    attestation.contract_rate_percent,
                    attestation.demand_rate_percent,
                    quote.applied_rate_percent,
                    quote.days_held
                ),
                Lang::En => format!(
                    "contract {}%, demand {}%, applied {}%, {} days held",
                    attestation.contract_rate_percent,
                    attestation.demand_rate_percent,
                    quote.applied_rate_percent,
                    quote.days_held
                ),
            },
        ),
        (
            label("本次利息", "Interest now"),
            money(quote.interest.as_ref(), lang),
        ),
        (
            label("到期利息", "Interest at maturity"),
            money(quote.interest_at_maturity.as_ref(), lang),
        ),
        (label("利息损失", "Interest lost"), {
            let loss = money(quote.interest_loss.as_ref(), lang);
            if loses_interest(authorization) {
                style.alert(&loss)
            } else {
                loss
            }
        }),
        (
            label("本息合计", "Total payout"),
            money(quote.total_payout.as_ref(), lang),
        ),
        (label("证件核验", "Identity check"), identity(authorization, lang)),
    ];
    let mut text = String::new();
    let separator = lang.pick("：", ": ");
    for (name, value) in rows {
        text.push_str(&format!("  {name}{separator}{value}\n"));
    }

    if !authorization.flags.is_empty() {
        let flags: Vec<String> = authorization
            .flags
            .iter()
            .map(|flag| {
                let flag = SupervisorFlag::try_from(*flag).unwrap_or(SupervisorFlag::Unspecified);
                format!("{UNMATURED_MARKER} {}", terms::flag(flag, lang))
            })
            .collect();
        text.push_str(&format!(
            "  {}{separator}{}\n",
            lang.pick("重点核对", "Check with care"),
            style.alert(&flags.join(lang.pick("；", "; ")))
        ));
    }

    text.push_str(&format!(
        "  {}{separator}\n",
        lang.pick("办理要求", "Requirements")
    ));
    for requirement in &authorization.requirements {
        let mark = if requirement.satisfied {
            style.good("✓")
        } else {
            style.alert("✗")
        };
        let description = match lang {
            Lang::ZhCn => &requirement.description_zh_cn,
            Lang::En => &requirement.description_en,
        };
        text.push_str(&format!("    {mark} {description}\n"));
    }

    if loses_interest(authorization) {
        text.push_str(&format!(
            "  {}{separator}{}\n",
            lang.pick("利息损失告知", "Interest-loss disclosure"),
            acknowledgement(authorization, lang)
        ));
    }
    for decision in &authorization.decisions {
        let verdict = if decision.approved {
            lang.pick("授权", "co-signed").to_owned()
        } else {
            match lang {
                Lang::ZhCn => format!("拒绝：{}", decision.reason),
                Lang::En => format!("rejected: {}", decision.reason),
            }
        };
        text.push_str(&format!(
            "  {}{separator}{} {} {verdict}（{}）\n",
            lang.pick("主管决定", "Decision"),
            decision.supervisor_staff_id,
            decision.supervisor_name,
            time(decision.recorded_at.as_ref())
        ));
    }
    text.push_str(&format!(
        "  {}{separator}{}\n",
        lang.pick("授权摘要", "Digest"),
        authorization.authorization_digest
    ));
    text
}

fn identity(authorization: &Authorization, lang: Lang) -> String {
    let Some(check) = &authorization.identity_check else {
        return lang.pick("未登记", "not recorded").to_owned();
    };
    let depositor_type =
        IdDocumentType::try_from(check.depositor_id_type).unwrap_or(IdDocumentType::Unspecified);
    let mut text = format!(
        "{} {}",
        terms::id_type(depositor_type, lang),
        check.depositor_masked_id_number
    );
    if check.agent {
        let agent_type = IdDocumentType::try_from(check.agent_id_type).unwrap_or(IdDocumentType::Unspecified);
        text.push_str(&match lang {
            Lang::ZhCn => format!(
                "；代理人 {} {} {}",
                check.agent_name,
                terms::id_type(agent_type, lang),
                check.agent_masked_id_number
            ),
            Lang::En => format!(
                "; agent {} {} {}",
                check.agent_name,
                terms::id_type(agent_type, lang),
                check.agent_masked_id_number
            ),
        });
    }
    text
}

fn acknowledgement(authorization: &Authorization, lang: Lang) -> String {
    let Some(acknowledgement) = authorization
        .acknowledgement
        .as_ref()
        .and_then(|record| record.acknowledgement.as_ref())
    else {
        return lang.pick("客户尚未确认", "not yet acknowledged").to_owned();
    };
    let method =
        CaptureMethod::try_from(acknowledgement.capture_method).unwrap_or(CaptureMethod::Unspecified);
    match lang {
        Lang::ZhCn => format!(
            "客户已确认（{}，凭证号 {}，{}，告知语言 {}）",
            terms::capture_method(method, lang),
            acknowledgement.capture_reference,
            time(acknowledgement.captured_at.as_ref()),
            acknowledgement.language
        ),
        Lang::En => format!(
            "acknowledged ({}, reference {}, {}, shown in {})",
            terms::capture_method(method, lang),
            acknowledgement.capture_reference,
            time(acknowledgement.captured_at.as_ref()),
            acknowledgement.language
        ),
    }
}

/// Writes the payout slip (支取凭条).
pub fn slip(authorization_id: &str, payout: &Payout, lang: Lang) -> String {
    let rows: Vec<(&str, String)> = vec![
        (lang.pick("存折号", "Passbook"), payout.passbook_number.clone()),
        (lang.pick("存款编号", "Deposit"), payout.deposit_id.clone()),
        (
            lang.pick("支取方式", "Withdrawal"),
            terms::withdrawal_kind(payout.withdrawal_kind(), lang).to_owned(),
        ),
        (
            lang.pick("本金", "Principal"),
            money(payout.principal.as_ref(), lang),
        ),
        (
            lang.pick("利息", "Interest"),
            money(payout.interest.as_ref(), lang),
        ),
        (lang.pick("本息合计", "Total"), money(payout.total.as_ref(), lang)),
        (
            lang.pick("剩余本金", "Remaining balance"),
            money(payout.remaining_balance.as_ref(), lang),
        ),
        (lang.pick("营业日", "Business date"), payout.business_date.clone()),
        (
            lang.pick("放款时间", "Paid at"),
            time(payout.executed_at.as_ref()),
        ),
        (lang.pick("放款指令号", "Order id"), payout.order_id.clone()),
        (
            lang.pick("授权编号", "Authorization"),
            authorization_id.to_owned(),
        ),
    ];
    let title = lang.pick("支取凭条", "Payout slip");
    let mut text = format!("======== {title} ========\n");
    let separator = lang.pick("：", ": ");
    for (name, value) in rows {
        text.push_str(&format!("  {name}{separator}{value}\n"));
    }
    text.push_str(&"=".repeat(18 + title.width()));
    text.push('\n');
    text
}

/// Writes an audit trail as a table: sequence, time, event, actor, reason.
pub fn audit_trail(records: &[AuditRecord], lang: Lang, style: Style) -> String {
    let headers = [
        lang.pick("序号", "Seq"),
        lang.pick("时间", "Time"),
        lang.pick("事件", "Event"),
        lang.pick("操作人", "Actor"),
        lang.pick("授权编号", "Authorization"),
        lang.pick("原因/说明", "Reason"),
    ];
    let rows: Vec<(Vec<String>, bool)> = records
        .iter()
        .map(|record| {
            // The stored bytes are authoritative; entry_decoded is a copy.
            let entry = AuditEntry::decode(record.entry.as_slice()).unwrap_or_default();
            let event = entry.event_type();
            let actor = if entry.actor_staff_id.is_empty() {
                lang.pick("系统", "service").to_owned()
            } else {
                entry.actor_staff_id.clone()
            };
            let highlight = matches!(
                event,
                AuditEventType::Denied | AuditEventType::Rejected | AuditEventType::Failed
            );
            (
                vec![
                    entry.sequence.to_string(),
                    time(entry.recorded_at.as_ref()),
                    terms::event_type(event, lang).to_owned(),
                    actor,
                    entry.authorization_id.clone(),
                    entry.reason.clone(),
                ],
                highlight,
            )
        })
        .collect();
    table(&headers, &rows, &[true, false, false, false, false, false], style)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_by_display_width() {
        let style = Style { colour: false };
        let rows = vec![
            (vec!["TD1".to_owned(), "⚠ 未到期".to_owned()], true),
            (vec!["TD22".to_owned(), "matured".to_owned()], false),
        ];
        let text = table(&["编号", "状态"], &rows, &[false, false], style);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "编号  状态");
        assert_eq!(lines[2], "TD1   ⚠ 未到期");
        assert_eq!(lines[3], "TD22  matured");
    }

    #[test]
    fn table_colours_highlighted_rows_only() {
        let style = Style { colour: true };
        let rows = vec![(vec!["a".to_owned()], true), (vec!["b".to_owned()], false)];
        let text = table(&["x"], &rows, &[false], style);
        assert!(text.contains("\x1b[1;31ma\x1b[0m"), "{text:?}");
        assert!(text.contains("\nb\n"), "{text:?}");
    }

    #[test]
    fn amounts_group_thousands() {
        let value = Money {
            amount: "7015.33".to_owned(),
            currency_code: "CNY".to_owned(),
        };
        assert_eq!(amount(Some(&value)), "7,015.33");
        assert_eq!(money(Some(&value), Lang::ZhCn), "7,015.33 元");
        assert_eq!(money(Some(&value), Lang::En), "7,015.33 CNY");
        assert_eq!(amount(None), "—");
    }

    #[test]
    fn time_is_beijing() {
        let timestamp = prost_types::Timestamp {
            seconds: 1_740_182_400,
            nanos: 0,
        };
        assert_eq!(time(Some(&timestamp)), "2025-02-22 08:00:00");
    }
}
