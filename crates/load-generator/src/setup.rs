//! The load test's own data, created through the services' admin listeners
//! before anything is timed: staff with generated keys, the demand rate, and
//! one passbook with one unmatured deposit per flow.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use attestation::SigningKey;
use bank_proto::common::Money;
use bank_proto::deposit::deposit_admin_service_client::DepositAdminServiceClient;
use bank_proto::deposit::deposit_status_service_client::DepositStatusServiceClient;
use bank_proto::deposit::{
    GetBusinessDateRequest, ListDemandRatesRequest, OpenDepositRequest, OpenPassbookRequest,
    SetDemandRateRequest,
};
use bank_proto::withdrawal::withdrawal_admin_service_client::WithdrawalAdminServiceClient;
use bank_proto::withdrawal::withdrawal_authorization_service_client::WithdrawalAuthorizationServiceClient;
use bank_proto::withdrawal::{EnrollStaffRequest, StaffRole};
use chrono::{Months, NaiveDate};
use tokio::task::JoinSet;
use tonic::transport::{Channel, Endpoint};

use crate::flow::{CUSTOMER_MASKED_ID_NUMBER, Staff, Teller, new_request_id, status_reason};

/// Maximum time to open a connection to a service.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Maximum time one call may take. A release waits for deposit-status in
/// turn, whose own timeout is 5 s by default, so this is well above it.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Principal of every load-test deposit, in CNY: below the default
/// large-amount line of 50,000.00, so no flow carries that flag.
const PRINCIPAL: &str = "20000.00";
/// Contract rate of every load-test deposit, in percent per year.
const CONTRACT_RATE_PERCENT: &str = "3.00";
/// Term of every load-test deposit, in months.
const TERM_MONTHS: i32 = 36;
/// Age of every load-test deposit on the business date: 15 months into a
/// 36-month term, so it is unmatured and withdrawing it loses interest.
const AGE_MONTHS: u32 = 15;
/// Demand rate posted when the stack has none, in percent per year: the
/// rate bank-dev and the incident use.
const DEMAND_RATE_PERCENT: &str = "0.10";
/// Effective date of that demand rate, before any deposit's opening.
const DEMAND_RATE_EFFECTIVE_FROM: &str = "2020-01-01";
/// Approval limit of every load-test supervisor, in CNY: above any payout.
const SUPERVISOR_APPROVAL_LIMIT: &str = "1000000.00";
/// Calls in flight while enrolling staff.
const ENROLL_CONCURRENCY: usize = 8;
/// Upper bound on the calls in flight while feeding deposits.
const MAX_FEED_CONCURRENCY: usize = 16;

/// A failed setup step.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("invalid URL {url:?}: {source}")]
    InvalidUrl {
        url: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("failed to connect to {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("{operation} failed: {reason}: {message}")]
    Call {
        operation: String,
        reason: String,
        message: String,
    },
    #[error("{0}")]
    Other(String),
}

impl SetupError {
    fn call(operation: impl Into<String>) -> impl FnOnce(tonic::Status) -> SetupError {
        let operation = operation.into();
        move |status| SetupError::Call {
            operation,
            reason: status_reason(&status),
            message: status.message().to_owned(),
        }
    }
}

/// The services' listen addresses, as URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackUrls {
    pub deposit_status: String,
    pub deposit_admin: String,
    pub authorization: String,
    pub authorization_admin: String,
}

/// Opens a connection to `url` now, so that connecting is not part of any
/// measured call.
pub async fn connect(url: &str) -> Result<Channel, SetupError> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|source| SetupError::InvalidUrl {
            url: url.to_owned(),
            source,
        })?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_TIMEOUT);
    endpoint.connect().await.map_err(|source| SetupError::Connect {
        url: url.to_owned(),
        source,
    })
}

/// A passbook with one unmatured deposit, ready for one flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FedDeposit {
    pub passbook_number: String,
    pub deposit_id: String,
}

/// Names and dates of one run's data. Every id carries a run id, so runs
/// against the same stack never collide.
#[derive(Debug, Clone)]
pub struct RunData {
    /// Six upper-case hexadecimal digits unique to this run.
    pub run_id: String,
    pub branch_id: String,
    pub business_date: NaiveDate,
}

impl RunData {
    /// Creates the names of a new run on `business_date`.
    pub fn new(business_date: NaiveDate) -> Self {
        let run_id = new_request_id()[..6].to_uppercase();
        RunData {
            branch_id: format!("LB{run_id}"),
            run_id,
            business_date,
        }
    }

    /// Returns the opening date of every deposit: [`AGE_MONTHS`] before the
    /// business date.
    pub fn opened_on(&self) -> NaiveDate {
        self.business_date
            .checked_sub_months(Months::new(AGE_MONTHS))
            .unwrap_or(self.business_date)
    }

    fn passbook_number(&self, index: u64) -> String {
        format!("LP{}{index:08}", self.run_id)
    }

    fn deposit_id(&self, index: u64) -> String {
        format!("LD{}{index:08}", self.run_id)
    }
}

/// Reads the business date from deposit-status.
pub async fn business_date(deposit_status_url: &str) -> Result<NaiveDate, SetupError> {
    let mut client = DepositStatusServiceClient::new(connect(deposit_status_url).await?);
    let response = client
        .get_business_date(GetBusinessDateRequest {})
        .await
        .map_err(SetupError::call("reading the business date"))?
        .into_inner();
    response.business_date.parse().map_err(|_| {
        SetupError::Other(format!(
            "deposit-status returned an invalid business date {:?}",
            response.business_date
        ))
    })
}

/// Posts the demand rate unless one is posted already.
pub async fn ensure_demand_rate(deposit_admin_url: &str) -> Result<(), SetupError> {
    let mut admin = DepositAdminServiceClient::new(connect(deposit_admin_url).await?);
    let posted = admin
        .list_demand_rates(ListDemandRatesRequest {
            currency_code: "CNY".to_owned(),
        })
        .await
        .map_err(SetupError::call("listing demand rates"))?
        .into_inner();
    if !posted.demand_rates.is_empty() {
        return Ok(());
    }
    admin
        .set_demand_rate(SetDemandRateRequest {
            request_id: new_request_id(),
            effective_from: DEMAND_RATE_EFFECTIVE_FROM.to_owned(),
            rate_percent: DEMAND_RATE_PERCENT.to_owned(),
            currency_code: "CNY".to_owned(),
        })
        .await
        .map_err(SetupError::call("posting the demand rate"))?;
    Ok(())
}

/// Enrolls `count` tellers and as many supervisors at the run's branch,
/// each with a new key, and opens every teller's own connections.
pub async fn enroll_tellers(urls: &StackUrls, run: &RunData, count: u32) -> Result<Vec<Teller>, SetupError> {
    let admin = WithdrawalAdminServiceClient::new(connect(&urls.authorization_admin).await?);
    let mut pending = JoinSet::new();
    let mut tellers = Vec::with_capacity(count as usize);
    for index in 0..count {
        if pending.len() >= ENROLL_CONCURRENCY
            && let Some(joined) = pending.join_next().await
        {
            tellers.push(joined.map_err(|error| SetupError::Other(error.to_string()))??);
        }
        let (admin, urls, run) = (admin.clone(), urls.clone(), run.clone());
        pending.spawn(async move { enroll_teller(admin, &urls, &run, index).await });
    }
    while let Some(joined) = pending.join_next().await {
        tellers.push(joined.map_err(|error| SetupError::Other(error.to_string()))??);
    }
    Ok(tellers)
}

async fn enroll_teller(
    mut admin: WithdrawalAdminServiceClient<Channel>,
    urls: &StackUrls,
    run: &RunData,
    index: u32,
) -> Result<Teller, SetupError> {
    let teller = Staff {
        staff_id: format!("LT{}{index:04}", run.run_id),
        key: SigningKey::generate(),
    };
    let supervisor = Staff {
        staff_id: format!("LS{}{index:04}", run.run_id),
        key: SigningKey::generate(),
    };
    for (staff, role, approval_limit) in [
        (&teller, StaffRole::Teller, None),
        (
            &supervisor,
            StaffRole::Supervisor,
            Some(cny(SUPERVISOR_APPROVAL_LIMIT)),
        ),
    ] {
        let public_key_pem = staff
            .key
            .verifying_key()
            .to_public_key_pem()
            .map_err(|error| SetupError::Other(format!("failed to encode a public key: {error}")))?;
        admin
            .enroll_staff(EnrollStaffRequest {
                request_id: new_request_id(),
                staff_id: staff.staff_id.clone(),
                name: format!("Load test {}", staff.staff_id),
                branch_id: run.branch_id.clone(),
                role: role as i32,
                approval_limit,
                public_key_pem,
                key_valid_from: None,
                key_valid_until: None,
            })
            .await
            .map_err(SetupError::call(format!("enrolling {}", staff.staff_id)))?;
    }
    Ok(Teller {
        teller,
        supervisor,
        branch_id: run.branch_id.clone(),
        deposit_status: DepositStatusServiceClient::new(connect(&urls.deposit_status).await?),
        authorization: WithdrawalAuthorizationServiceClient::new(connect(&urls.authorization).await?),
    })
}

/// Opens passbooks with one deposit each through deposit-status's admin
/// listener. Numbers continue across calls, so a second batch adds new
/// deposits.
pub struct Feeder {
    admin: DepositAdminServiceClient<Channel>,
    run: RunData,
    next_index: Arc<AtomicU64>,
}

impl Feeder {
    /// Connects to the admin listener.
    pub async fn connect(deposit_admin_url: &str, run: &RunData) -> Result<Feeder, SetupError> {
        Ok(Feeder {
            admin: DepositAdminServiceClient::new(connect(deposit_admin_url).await?),
            run: run.clone(),
            next_index: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Opens `count` passbooks, each with one deposit, with up to
    /// `concurrency` calls in flight.
    pub async fn feed(&self, count: u64, concurrency: usize) -> Result<Vec<FedDeposit>, SetupError> {
        let first = self.next_index.fetch_add(count, Ordering::Relaxed);
        let end = first + count;
        let cursor = Arc::new(AtomicU64::new(first));
        let mut workers = JoinSet::new();
        for _ in 0..concurrency.clamp(1, MAX_FEED_CONCURRENCY) {
            let (admin, run, cursor) = (self.admin.clone(), self.run.clone(), Arc::clone(&cursor));
            workers.spawn(async move {
                let mut fed = Vec::new();
                loop {
                    let index = cursor.fetch_add(1, Ordering::Relaxed);
                    if index >= end {
                        return Ok::<_, SetupError>(fed);
                    }
                    fed.push(open_deposit(admin.clone(), &run, index).await?);
                }
            });
        }
        let mut deposits = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        while let Some(joined) = workers.join_next().await {
            deposits.extend(joined.map_err(|error| SetupError::Other(error.to_string()))??);
        }
        Ok(deposits)
    }
}

async fn open_deposit(
    mut admin: DepositAdminServiceClient<Channel>,
    run: &RunData,
    index: u64,
) -> Result<FedDeposit, SetupError> {
    let passbook_number = run.passbook_number(index);
    let deposit_id = run.deposit_id(index);
    admin
        .open_passbook(OpenPassbookRequest {
            request_id: new_request_id(),
            passbook_number: passbook_number.clone(),
            customer_id: format!("LC{}{index:08}", run.run_id),
            customer_name: "Load Test".to_owned(),
            masked_id_number: CUSTOMER_MASKED_ID_NUMBER.to_owned(),
            branch_id: run.branch_id.clone(),
        })
        .await
        .map_err(SetupError::call(format!("opening passbook {passbook_number}")))?;
    admin
        .open_deposit(OpenDepositRequest {
            request_id: new_request_id(),
            passbook_number: passbook_number.clone(),
            deposit_id: deposit_id.clone(),
            principal: Some(cny(PRINCIPAL)),
            term_months: TERM_MONTHS,
            contract_rate_percent: CONTRACT_RATE_PERCENT.to_owned(),
            opened_on: run.opened_on().format("%Y-%m-%d").to_string(),
            product: None,
        })
        .await
        .map_err(SetupError::call(format!("opening deposit {deposit_id}")))?;
    Ok(FedDeposit {
        passbook_number,
        deposit_id,
    })
}

fn cny(amount: &str) -> Money {
    Money {
        amount: amount.to_owned(),
        currency_code: "CNY".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deposits_open_fifteen_months_before_business_date() {
        let run = RunData::new(NaiveDate::from_ymd_opt(2025, 2, 22).unwrap());
        assert_eq!(run.opened_on(), NaiveDate::from_ymd_opt(2023, 11, 22).unwrap());
    }

    #[test]
    fn run_ids_are_valid_identifiers() {
        let run = RunData::new(NaiveDate::from_ymd_opt(2025, 2, 22).unwrap());
        assert_eq!(run.run_id.len(), 6);
        for id in [
            run.passbook_number(7),
            run.deposit_id(12_345_678),
            run.branch_id.clone(),
        ] {
            assert!(
                grpc_support::convert::require_identifier("id", &id).is_ok(),
                "{id}"
            );
        }
    }
}
