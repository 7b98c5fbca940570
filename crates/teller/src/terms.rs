//! The standard names of the contracts' enum values in Chinese and English,
//! and their stable codes for JSON output.

use bank_proto::common::WithdrawalKind;
use bank_proto::deposit::{DepositState, Passbook, PassbookStatus};
use bank_proto::withdrawal::{
    AuditEventType, AuthorizationState, CaptureMethod, IdDocumentType, RequirementKind, SupervisorFlag,
};

use crate::lang::Lang;

pub fn deposit_state(state: DepositState, lang: Lang) -> &'static str {
    match state {
        DepositState::Unmatured => lang.pick("未到期", "unmatured"),
        DepositState::Matured => lang.pick("已到期", "matured"),
        DepositState::Overdue => lang.pick("已逾期", "overdue"),
        DepositState::Withdrawn => lang.pick("已支取", "withdrawn"),
        DepositState::Closed => lang.pick("已销户", "closed"),
        DepositState::Unspecified => lang.pick("未知", "unknown"),
    }
}

pub fn deposit_state_code(state: DepositState) -> &'static str {
    match state {
        DepositState::Unmatured => "unmatured",
        DepositState::Matured => "matured",
        DepositState::Overdue => "overdue",
        DepositState::Withdrawn => "withdrawn",
        DepositState::Closed => "closed",
        DepositState::Unspecified => "unspecified",
    }
}

/// True for a deposit that a passbook closure must list.
pub fn is_open(state: DepositState) -> bool {
    matches!(
        state,
        DepositState::Unmatured | DepositState::Matured | DepositState::Overdue
    )
}

pub fn passbook_status(passbook: &Passbook, lang: Lang) -> String {
    match passbook.status() {
        PassbookStatus::Active => lang.pick("正常", "active").to_owned(),
        PassbookStatus::ReportedLost => lang.pick("已挂失", "reported lost").to_owned(),
        PassbookStatus::Replaced => match lang {
            Lang::ZhCn => format!("已挂失补发，新存折号 {}", passbook.replaced_by_passbook_number),
            Lang::En => format!(
                "replaced after a loss report by {}",
                passbook.replaced_by_passbook_number
            ),
        },
        PassbookStatus::Unspecified => lang.pick("未知", "unknown").to_owned(),
    }
}

pub fn passbook_status_code(status: PassbookStatus) -> &'static str {
    match status {
        PassbookStatus::Active => "active",
        PassbookStatus::ReportedLost => "reported_lost",
        PassbookStatus::Replaced => "replaced",
        PassbookStatus::Unspecified => "unspecified",
    }
}

pub fn withdrawal_kind(kind: WithdrawalKind, lang: Lang) -> &'static str {
    match kind {
        WithdrawalKind::EarlyFull => lang.pick("提前支取（全额）", "early withdrawal of the whole deposit"),
        WithdrawalKind::EarlyPartial => lang.pick("提前支取（部分）", "partial early withdrawal"),
        WithdrawalKind::AtMaturity => lang.pick("到期支取", "withdrawal at maturity"),
        WithdrawalKind::Overdue => lang.pick("逾期支取", "overdue withdrawal"),
        WithdrawalKind::Unspecified => lang.pick("未知", "unknown"),
    }
}

pub fn withdrawal_kind_code(kind: WithdrawalKind) -> &'static str {
    match kind {
        WithdrawalKind::EarlyFull => "early_full",
        WithdrawalKind::EarlyPartial => "early_partial",
        WithdrawalKind::AtMaturity => "at_maturity",
        WithdrawalKind::Overdue => "overdue",
        WithdrawalKind::Unspecified => "unspecified",
    }
}

pub fn authorization_state(state: AuthorizationState, lang: Lang) -> &'static str {
    match state {
        AuthorizationState::Pending => lang.pick("待授权", "pending"),
        AuthorizationState::Ready => lang.pick("已授权，待放款", "ready for release"),
        AuthorizationState::Releasing => lang.pick("放款中", "releasing"),
        AuthorizationState::Released => lang.pick("已放款", "released"),
        AuthorizationState::Rejected => lang.pick("已拒绝", "rejected"),
        AuthorizationState::Failed => lang.pick("放款失败", "failed"),
        AuthorizationState::Expired => lang.pick("已过期", "expired"),
        AuthorizationState::Unspecified => lang.pick("未知", "unknown"),
    }
}

pub fn authorization_state_code(state: AuthorizationState) -> &'static str {
    match state {
        AuthorizationState::Pending => "pending",
        AuthorizationState::Ready => "ready",
        AuthorizationState::Releasing => "releasing",
        AuthorizationState::Released => "released",
        AuthorizationState::Rejected => "rejected",
        AuthorizationState::Failed => "failed",
        AuthorizationState::Expired => "expired",
        AuthorizationState::Unspecified => "unspecified",
    }
}

pub fn flag(flag: SupervisorFlag, lang: Lang) -> &'static str {
    match flag {
        SupervisorFlag::Unmatured => lang.pick(
            "未到期（提前支取，客户损失利息）",
            "unmatured (early, interest lost)",
        ),
        SupervisorFlag::LargeAmount => lang.pick("大额", "large amount"),
        SupervisorFlag::ReissuedAfterLossToday => {
            lang.pick("存折今日挂失补发", "passbook reissued after a loss report today")
        }
        SupervisorFlag::Agent => lang.pick("代理人代办", "agent acts for the depositor"),
        SupervisorFlag::PartialEarlyWithdrawal => lang.pick(
            "部分提前支取（仅限一次）",
            "partial early withdrawal (allowed once)",
        ),
        SupervisorFlag::PassbookClosure => lang.pick("一本通销户", "part of a passbook closure"),
        SupervisorFlag::Unspecified => lang.pick("未知", "unknown"),
    }
}

pub fn flag_code(flag: SupervisorFlag) -> &'static str {
    match flag {
        SupervisorFlag::Unmatured => "unmatured",
        SupervisorFlag::LargeAmount => "large_amount",
        SupervisorFlag::ReissuedAfterLossToday => "reissued_after_loss_today",
        SupervisorFlag::Agent => "agent",
        SupervisorFlag::PartialEarlyWithdrawal => "partial_early_withdrawal",
        SupervisorFlag::PassbookClosure => "passbook_closure",
        SupervisorFlag::Unspecified => "unspecified",
    }
}

pub fn requirement_code(kind: RequirementKind) -> &'static str {
    match kind {
        RequirementKind::Cosignature => "cosignature",
        RequirementKind::DisclosureAcknowledgement => "disclosure_acknowledgement",
        RequirementKind::IdentityCheck => "identity_check",
        RequirementKind::Unspecified => "unspecified",
    }
}

pub fn id_type(id_type: IdDocumentType, lang: Lang) -> &'static str {
    match id_type {
        IdDocumentType::ResidentIdCard => lang.pick("居民身份证", "resident ID card"),
        IdDocumentType::Passport => lang.pick("护照", "passport"),
        IdDocumentType::HkMacaoPermit => lang.pick("港澳居民来往内地通行证", "Hong Kong/Macao permit"),
        IdDocumentType::TaiwanPermit => lang.pick("台湾居民来往大陆通行证", "Taiwan permit"),
        IdDocumentType::ForeignPermanentResidentCard => {
            lang.pick("外国人永久居留身份证", "foreign permanent resident ID card")
        }
        IdDocumentType::Unspecified => lang.pick("未登记", "not recorded"),
    }
}

pub fn capture_method(method: CaptureMethod, lang: Lang) -> &'static str {
    match method {
        CaptureMethod::SignaturePad => lang.pick("电子签名板", "signature pad"),
        CaptureMethod::PinPad => lang.pick("密码键盘", "PIN pad"),
        CaptureMethod::PaperForm => lang.pick("纸质告知书", "paper form"),
        CaptureMethod::Unspecified => lang.pick("未知", "unknown"),
    }
}

pub fn event_type(event: AuditEventType, lang: Lang) -> &'static str {
    match event {
        AuditEventType::Submitted => lang.pick("柜员提交支取", "teller submitted"),
        AuditEventType::RequirementsSet => lang.pick("设定办理要求", "requirements set"),
        AuditEventType::Acknowledged => {
            lang.pick("客户确认利息损失告知", "customer acknowledged the disclosure")
        }
        AuditEventType::Cosigned => lang.pick("营运主管授权", "supervisor co-signed"),
        AuditEventType::Rejected => lang.pick("营运主管拒绝", "supervisor rejected"),
        AuditEventType::ReleaseOrdered => lang.pick("签发放款指令", "release order signed"),
        AuditEventType::Released => lang.pick("已放款", "released"),
        AuditEventType::Failed => lang.pick("放款失败", "release failed"),
        AuditEventType::Retried => lang.pick("放款重试", "release retried"),
        AuditEventType::Expired => lang.pick("证明过期", "attestation expired"),
        AuditEventType::ClosureSubmitted => lang.pick("提交一本通销户", "passbook closure submitted"),
        AuditEventType::StaffChanged => lang.pick("员工或密钥变更", "staff or key changed"),
        AuditEventType::Denied => lang.pick("请求被拒（规则）", "denied by a rule"),
        AuditEventType::Unspecified => lang.pick("未知", "unknown"),
    }
}
