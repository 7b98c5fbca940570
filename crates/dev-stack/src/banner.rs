//! The banner bank-dev prints once it is ready: the addresses, the demo
//! staff and passbooks, and the exact teller commands to try.

use std::path::Path;

use chrono::NaiveDate;
use grpc_support::convert::format_amount_grouped;
use rust_decimal::Decimal;

use crate::Lang;
use crate::seed::{BRANCH, INCIDENT_DEPOSIT, INCIDENT_PASSBOOK, PASSBOOKS, STAFF};
use crate::stack::Addresses;
use bank_proto::withdrawal::StaffRole;

/// Returns the line that tests and scripts wait for, the same in every
/// language:
/// `bank-dev ready: deposit-status=URL deposit-admin=URL authorization=URL
/// authorization-admin=URL`.
pub fn ready_line(addresses: &Addresses) -> String {
    format!(
        "bank-dev ready: deposit-status=http://{} deposit-admin=http://{} authorization=http://{} authorization-admin=http://{}",
        addresses.deposit_status,
        addresses.deposit_admin,
        addresses.authorization,
        addresses.authorization_admin
    )
}

fn role(role: StaffRole, lang: Lang) -> &'static str {
    match role {
        StaffRole::Teller => lang.pick("柜员", "teller"),
        StaffRole::Supervisor => lang.pick("营运主管", "supervisor"),
        StaffRole::Auditor => lang.pick("审计员", "auditor"),
        StaffRole::Admin => lang.pick("管理员", "administrator"),
        StaffRole::Unspecified => "?",
    }
}

/// Groups an approval limit like "1000000.00" as "1,000,000.00".
fn grouped(amount: &str) -> String {
    match Decimal::from_str_exact(amount) {
        Ok(value) => format_amount_grouped(value, 2),
        Err(_) => amount.to_owned(),
    }
}

pub fn text(
    lang: Lang,
    data_dir: &Path,
    addresses: &Addresses,
    business_date: NaiveDate,
    reused: bool,
) -> String {
    let data = data_dir.display();
    let mut text = String::new();
    let line = |text: &mut String, value: String| {
        text.push_str(&value);
        text.push('\n');
    };

    line(
        &mut text,
        match (lang, reused) {
            (Lang::ZhCn, true) => {
                format!("演示环境已启动，沿用数据目录 {data} 中的密钥和数据（未重复载入）。")
            }
            (Lang::ZhCn, false) => format!("演示环境已启动：已在 {data} 生成密钥并载入演示数据。"),
            (Lang::En, true) => {
                format!("The stack is up, reusing the keys and data in {data} (nothing loaded twice).")
            }
            (Lang::En, false) => format!("The stack is up: keys generated and demo data loaded into {data}."),
        },
    );
    line(
        &mut text,
        match lang {
            Lang::ZhCn => format!(
                "营业日固定为 {business_date}，活期利率 0.10%（2020-01-01 起）。删除 {data} 即可重置。"
            ),
            Lang::En => format!(
                "Business date fixed at {business_date}, demand rate 0.10% (from 2020-01-01). Delete {data} to start over."
            ),
        },
    );
    line(
        &mut text,
        match lang {
            Lang::ZhCn => format!(
                "  deposit-status           http://{}（管理端 http://{}）\n  withdrawal-authorization http://{}（管理端 http://{}）",
                addresses.deposit_status,
                addresses.deposit_admin,
                addresses.authorization,
                addresses.authorization_admin
            ),
            Lang::En => format!(
                "  deposit-status           http://{} (admin http://{})\n  withdrawal-authorization http://{} (admin http://{})",
                addresses.deposit_status,
                addresses.deposit_admin,
                addresses.authorization,
                addresses.authorization_admin
            ),
        },
    );

    line(
        &mut text,
        match lang {
            Lang::ZhCn => format!("演示员工（网点 {BRANCH}，私钥在 {data}/keys/工号.pem）："),
            Lang::En => format!("Demo staff (branch {BRANCH}, private keys in {data}/keys/ID.pem):"),
        },
    );
    for staff in STAFF {
        let limit = staff
            .approval_limit
            .map(|limit| match lang {
                Lang::ZhCn => format!("，授权额度 {} 元", grouped(limit)),
                Lang::En => format!(", approval limit {} CNY", grouped(limit)),
            })
            .unwrap_or_default();
        line(
            &mut text,
            format!(
                "  {} {} {}{limit}",
                staff.staff_id,
                staff.name,
                role(staff.role, lang)
            ),
        );
    }

    line(&mut text, lang.pick("演示存折：", "Demo passbooks:").to_owned());
    for passbook in PASSBOOKS {
        let description = match lang {
            Lang::ZhCn => passbook.description.0,
            Lang::En => passbook.description.1,
        };
        line(
            &mut text,
            format!(
                "  {} {}：{description}",
                passbook.passbook_number, passbook.customer_name
            ),
        );
    }

    let exports = format!(
        "  export TELLER_DEPOSIT_STATUS_URL=http://{} TELLER_AUTHORIZATION_URL=http://{} TELLER_AUTHORIZATION_ADMIN_URL=http://{} TELLER_DEPOSIT_ADMIN_URL=http://{}",
        addresses.deposit_status,
        addresses.authorization,
        addresses.authorization_admin,
        addresses.deposit_admin
    );
    line(
        &mut text,
        lang.pick(
            "\n在另一个终端（柜员 T001 王芳）试用：",
            "\nTry it in another terminal (teller T001):",
        )
        .to_owned(),
    );
    line(&mut text, exports.clone());
    line(
        &mut text,
        format!("  export TELLER_STAFF_ID=T001 TELLER_KEY_FILE={data}/keys/T001.pem TELLER_BRANCH={BRANCH}"),
    );
    line(
        &mut text,
        format!("  cargo run --release --bin teller -- passbook {INCIDENT_PASSBOOK}"),
    );
    line(
        &mut text,
        format!("  cargo run --release --bin teller -- demo --data-dir {data}"),
    );
    line(
        &mut text,
        format!(
            "  cargo run --release --bin teller -- withdraw --passbook {INCIDENT_PASSBOOK} --deposit {INCIDENT_DEPOSIT} --whole --id-type resident-id-card --id-number '110***********1234'"
        ),
    );
    line(
        &mut text,
        lang.pick(
            "营运主管（S001 张伟）在第三个终端授权：",
            "The supervisor (S001) co-signs from a third terminal:",
        )
        .to_owned(),
    );
    line(&mut text, exports);
    line(
        &mut text,
        format!("  export TELLER_STAFF_ID=S001 TELLER_KEY_FILE={data}/keys/S001.pem TELLER_BRANCH={BRANCH}"),
    );
    line(
        &mut text,
        "  cargo run --release --bin teller -- supervisor list".to_owned(),
    );
    line(
        &mut text,
        "  cargo run --release --bin teller -- supervisor cosign AUTHORIZATION_ID".to_owned(),
    );
    line(
        &mut text,
        lang.pick("按 Ctrl-C 停止。", "Press Ctrl-C to stop.").to_owned(),
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouped_limits() {
        assert_eq!(grouped("1000000.00"), "1,000,000.00");
        assert_eq!(grouped("50000.00"), "50,000.00");
        assert_eq!(grouped("100.00"), "100.00");
    }
}
