//! The demo data: staff, the demand rate and three passbooks, loaded
//! through the services' admin RPCs.
//!
//! Every request carries a fixed request_id. Both services store the first
//! response of each request_id (AIP-155) and replay it for a retry with the
//! same fields, so loading again on a later start creates nothing twice.

use bank_proto::common::Money;
use bank_proto::deposit::deposit_admin_service_client::DepositAdminServiceClient;
use bank_proto::deposit::{
    OpenDepositRequest, OpenPassbookRequest, ReissuePassbookRequest, ReportPassbookLostRequest,
    SetDemandRateRequest,
};
use bank_proto::withdrawal::withdrawal_admin_service_client::WithdrawalAdminServiceClient;
use bank_proto::withdrawal::{EnrollStaffRequest, StaffRole};
use tonic::transport::Channel;

use crate::keys::{DataDir, KeysError, ensure_key};

/// Branch of every demo passbook and staff member.
pub const BRANCH: &str = "BR001";

/// A demo staff member.
pub struct StaffSeed {
    pub staff_id: &'static str,
    pub name: &'static str,
    pub role: StaffRole,
    /// Approval limit in CNY, for supervisors only.
    pub approval_limit: Option<&'static str>,
}

pub const STAFF: &[StaffSeed] = &[
    StaffSeed {
        staff_id: "T001",
        name: "王芳",
        role: StaffRole::Teller,
        approval_limit: None,
    },
    StaffSeed {
        staff_id: "T002",
        name: "李强",
        role: StaffRole::Teller,
        approval_limit: None,
    },
    StaffSeed {
        staff_id: "S001",
        name: "张伟",
        role: StaffRole::Supervisor,
        approval_limit: Some("1000000.00"),
    },
    StaffSeed {
        staff_id: "S002",
        name: "陈静",
        role: StaffRole::Supervisor,
        approval_limit: Some("50000.00"),
    },
    StaffSeed {
        staff_id: "A001",
        name: "刘洋",
        role: StaffRole::Admin,
        approval_limit: None,
    },
];

/// A demo passbook and its deposits.
pub struct PassbookSeed {
    pub passbook_number: &'static str,
    pub customer_id: &'static str,
    pub customer_name: &'static str,
    pub masked_id_number: &'static str,
    /// Deposit id, principal, contract rate in percent, term in months and
    /// opening date of each deposit.
    pub deposits: &'static [(&'static str, &'static str, &'static str, i32, &'static str)],
    /// One line for the banner, in zh-CN and en.
    pub description: (&'static str, &'static str),
}

/// The incident's passbook: a deposit maturing on 2025-02-22 and the
/// unmatured 80,000.00 at 3.00 % for 36 months opened 2022-11-14.
pub const INCIDENT_PASSBOOK: &str = "PB2022111400";
/// The incident's unmatured deposit.
pub const INCIDENT_DEPOSIT: &str = "TD2022111401";
/// The passbook reported lost and reissued under [`REISSUED_PASSBOOK`].
pub const LOST_PASSBOOK: &str = "PB2023050800";
/// The number that replaced [`LOST_PASSBOOK`].
pub const REISSUED_PASSBOOK: &str = "PB2025022201";

pub const PASSBOOKS: &[PassbookSeed] = &[
    PassbookSeed {
        passbook_number: INCIDENT_PASSBOOK,
        customer_id: "C20221114",
        customer_name: "李秀英",
        masked_id_number: "110***********1234",
        deposits: &[
            ("TD2024022201", "50000.00", "1.65", 12, "2024-02-22"),
            (INCIDENT_DEPOSIT, "80000.00", "3.00", 36, "2022-11-14"),
        ],
        description: (
            "事故存折：1 笔今日到期 50,000.00 元 + 1 笔未到期 80,000.00 元（3.00%，36 个月，2022-11-14 开户）",
            "the incident: one deposit maturing today (50,000.00) and the unmatured 80,000.00 (3.00%, 36 months, opened 2022-11-14)",
        ),
    },
    PassbookSeed {
        passbook_number: "PB2019070100",
        customer_id: "C20190701",
        customer_name: "赵磊",
        masked_id_number: "310***********5678",
        deposits: &[
            ("TD2021070101", "20000.00", "2.75", 36, "2021-07-01"),
            ("TD2024112201", "10000.00", "1.35", 3, "2024-11-22"),
        ],
        description: (
            "1 笔逾期 20,000.00 元 + 1 笔今日到期 10,000.00 元，无利息损失",
            "one overdue deposit (20,000.00) and one maturing today (10,000.00), no interest lost",
        ),
    },
    PassbookSeed {
        passbook_number: LOST_PASSBOOK,
        customer_id: "C20230508",
        customer_name: "孙丽",
        masked_id_number: "440***********9012",
        deposits: &[("TD2023050801", "30000.00", "2.15", 24, "2023-05-08")],
        description: (
            "已挂失，今日补发为 PB2025022201（1 笔未到期 30,000.00 元）",
            "reported lost and reissued today as PB2025022201 (one unmatured deposit of 30,000.00)",
        ),
    },
];

/// Failure while loading the demo data.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(transparent)]
    Keys(#[from] KeysError),
    #[error("{what} failed: {status}")]
    Rpc {
        what: String,
        #[source]
        status: tonic::Status,
    },
}

fn rpc(what: impl Into<String>) -> impl FnOnce(tonic::Status) -> SeedError {
    let what = what.into();
    move |status| SeedError::Rpc { what, status }
}

/// Returns the fixed request_id of the `index`-th seeding request. Changed
/// seed data needs new indexes or a fresh data folder, because the services
/// reject a request_id reused with other fields.
fn request_id(index: u32) -> String {
    format!("bd5eed00-0000-4000-8000-{index:012}")
}

fn cny(amount: &str) -> Money {
    Money {
        amount: amount.to_owned(),
        currency_code: "CNY".to_owned(),
    }
}

/// Enrolls the demo staff, generating their keys on first use.
pub async fn enroll_staff(
    data_dir: &DataDir,
    admin: &mut WithdrawalAdminServiceClient<Channel>,
) -> Result<(), SeedError> {
    for (index, staff) in STAFF.iter().enumerate() {
        let (key, _) = ensure_key(data_dir, staff.staff_id)?;
        let public_key_pem = key.verifying_key().to_public_key_pem().map_err(KeysError::from)?;
        admin
            .enroll_staff(EnrollStaffRequest {
                request_id: request_id(100 + index as u32),
                staff_id: staff.staff_id.to_owned(),
                name: staff.name.to_owned(),
                branch_id: BRANCH.to_owned(),
                role: staff.role as i32,
                approval_limit: staff.approval_limit.map(cny),
                public_key_pem,
                key_valid_from: None,
                key_valid_until: None,
            })
            .await
            .map_err(rpc(format!("enrolling {}", staff.staff_id)))?;
    }
    Ok(())
}

/// Posts the demand rate and opens the demo passbooks, then reports the
/// lost one and reissues it.
pub async fn load_deposits(admin: &mut DepositAdminServiceClient<Channel>) -> Result<(), SeedError> {
    admin
        .set_demand_rate(SetDemandRateRequest {
            request_id: request_id(1),
            effective_from: "2020-01-01".to_owned(),
            rate_percent: "0.10".to_owned(),
            currency_code: "CNY".to_owned(),
        })
        .await
        .map_err(rpc("posting the demand rate"))?;

    let mut index = 200;
    for passbook in PASSBOOKS {
        admin
            .open_passbook(OpenPassbookRequest {
                request_id: request_id(index),
                passbook_number: passbook.passbook_number.to_owned(),
                customer_id: passbook.customer_id.to_owned(),
                customer_name: passbook.customer_name.to_owned(),
                masked_id_number: passbook.masked_id_number.to_owned(),
                branch_id: BRANCH.to_owned(),
            })
            .await
            .map_err(rpc(format!("opening passbook {}", passbook.passbook_number)))?;
        index += 1;
        for (deposit_id, principal, rate, term_months, opened_on) in passbook.deposits {
            admin
                .open_deposit(OpenDepositRequest {
                    request_id: request_id(index),
                    passbook_number: passbook.passbook_number.to_owned(),
                    deposit_id: (*deposit_id).to_owned(),
                    principal: Some(cny(principal)),
                    term_months: *term_months,
                    contract_rate_percent: (*rate).to_owned(),
                    opened_on: (*opened_on).to_owned(),
                    product: None,
                })
                .await
                .map_err(rpc(format!("opening deposit {deposit_id}")))?;
            index += 1;
        }
    }

    admin
        .report_passbook_lost(ReportPassbookLostRequest {
            request_id: request_id(300),
            passbook_number: LOST_PASSBOOK.to_owned(),
        })
        .await
        .map_err(rpc(format!("reporting {LOST_PASSBOOK} lost")))?;
    admin
        .reissue_passbook(ReissuePassbookRequest {
            request_id: request_id(301),
            passbook_number: LOST_PASSBOOK.to_owned(),
            new_passbook_number: REISSUED_PASSBOOK.to_owned(),
        })
        .await
        .map_err(rpc(format!("reissuing {LOST_PASSBOOK}")))?;
    Ok(())
}
