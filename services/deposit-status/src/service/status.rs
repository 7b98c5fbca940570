//! DepositStatusService: the teller-facing reads, attestations and release
//! execution.

use bank_proto::common::Money;
use bank_proto::deposit::deposit_status_service_server::DepositStatusService;
use bank_proto::deposit::{
    ExecuteWithdrawalRequest, ExecuteWithdrawalResponse, GetBusinessDateRequest, GetBusinessDateResponse,
    GetPassbookRequest, GetPassbookResponse, IssueMaturityAttestationRequest,
    IssueMaturityAttestationResponse, ListVerificationKeysRequest, ListVerificationKeysResponse,
    MaturityAttestation, QuoteWithdrawalRequest, QuoteWithdrawalResponse,
};
use chrono::{DateTime, Utc};
use grpc_support::convert::{
    self, envelope_to_proto, format_date, parse_money, parse_request_id, require_identifier, to_timestamp,
    verification_key_to_proto,
};
use grpc_support::error::Violations;
use prost::Message;
use rust_decimal::Decimal;
use sqlx::AnyConnection;
use tonic::{Request, Response, Status};
use tracing::instrument;

use super::{SharedState, quote_deposit};
use crate::error::DepositError;
use crate::store::{self, AttestationRow, DepositRow, DepositStatus, PassbookRow, PassbookStatus};
use crate::views::{self, deposit_state, deposit_state_name};
use storage::RequestKey;

/// The DepositStatusService implementation.
#[derive(Debug, Clone)]
pub struct StatusService {
    state: SharedState,
}

impl StatusService {
    pub fn new(state: SharedState) -> Self {
        StatusService { state }
    }
}

/// Parses the "amount or whole_deposit" pair that several requests share.
/// Returns `None` for the whole balance.
pub fn parse_amount_selection(
    violations: &mut Violations,
    amount: Option<&Money>,
    whole_deposit: bool,
) -> Option<(Decimal, String)> {
    match (amount, whole_deposit) {
        (Some(_), true) => {
            violations.add("amount", "set either amount or whole_deposit, not both");
            None
        }
        (None, false) => {
            violations.add(
                "amount",
                "missing: set amount, or whole_deposit for the whole balance",
            );
            None
        }
        (None, true) => None,
        (Some(money), false) => match parse_money("amount", Some(money)) {
            Ok((value, currency)) if value > Decimal::ZERO => Some((value, currency)),
            Ok(_) => {
                violations.add("amount.amount", "must be greater than 0");
                None
            }
            Err(violation) => {
                violations.add(violation.field, violation.description);
                None
            }
        },
    }
}

/// Checks that the passbook can be withdrawn from: it exists, is not reported
/// lost and was not replaced.
pub fn require_usable_passbook(
    passbook: Option<PassbookRow>,
    number: &str,
) -> Result<PassbookRow, DepositError> {
    let passbook = passbook.ok_or_else(|| DepositError::PassbookNotFound(number.to_owned()))?;
    match passbook.status {
        PassbookStatus::Active => Ok(passbook),
        PassbookStatus::ReportedLost => Err(DepositError::PassbookReportedLost(number.to_owned())),
        PassbookStatus::Replaced => Err(DepositError::PassbookReplaced {
            passbook_number: number.to_owned(),
            replaced_by: passbook.replaced_by_passbook_number.unwrap_or_default(),
        }),
    }
}

/// Checks that the deposit is open (not withdrawn or closed).
pub fn require_open_deposit(
    deposit: &DepositRow,
    business_date: chrono::NaiveDate,
) -> Result<(), DepositError> {
    if deposit.status == DepositStatus::Open {
        return Ok(());
    }
    Err(DepositError::DepositNotActive {
        deposit_id: deposit.deposit_id.clone(),
        state: deposit_state_name(deposit_state(deposit, business_date)),
    })
}

/// Checks that an amount's currency is the deposit's.
pub fn require_currency(
    amount: &Option<(Decimal, String)>,
    deposit: &DepositRow,
) -> Result<Option<Decimal>, DepositError> {
    match amount {
        None => Ok(None),
        Some((value, currency)) if *currency == deposit.currency_code => Ok(Some(*value)),
        Some((_, currency)) => Err(DepositError::CurrencyMismatch {
            given: currency.clone(),
            expected: deposit.currency_code.clone(),
        }),
    }
}

impl StatusService {
    /// Checks that the deposit can be withdrawn as requested, then signs
    /// and records an attestation of its state and quote inside the caller's
    /// write transaction, and returns the response and the issue instant. A
    /// rerun of the transaction signs a new attestation id.
    async fn attest(
        &self,
        connection: &mut AnyConnection,
        request: &IssueMaturityAttestationRequest,
        amount: &Option<(Decimal, String)>,
    ) -> Result<(IssueMaturityAttestationResponse, DateTime<Utc>), DepositError> {
        let passbook = require_usable_passbook(
            store::find_passbook(connection, &request.passbook_number)
                .await
                .map_err(DepositError::from)?,
            &request.passbook_number,
        )?;
        let deposit = store::find_deposit(connection, &request.deposit_id)
            .await
            .map_err(DepositError::from)?
            .ok_or_else(|| DepositError::DepositNotFound(request.deposit_id.clone()))?;
        if deposit.passbook_number != passbook.passbook_number {
            return Err(DepositError::DepositNotInPassbook {
                deposit_id: deposit.deposit_id,
                passbook_number: passbook.passbook_number,
            });
        }
        let business_date = self
            .state
            .business_date(connection)
            .await
            .map_err(DepositError::from)?
            .date;
        require_open_deposit(&deposit, business_date)?;
        let amount = require_currency(amount, &deposit)?;
        let (quote, demand_rate) = quote_deposit(connection, &deposit, business_date, amount).await?;
        let open_deposits = store::list_passbook_deposits(connection, &passbook.passbook_number)
            .await
            .map_err(DepositError::from)?
            .iter()
            .filter(|row| {
                row.status == DepositStatus::Open && row.passbook_number == passbook.passbook_number
            })
            .count();

        let issued_at = self.state.now();
        let expires_at = issued_at + self.state.attestation_lifetime;
        let contract_rate = super::interest_deposit(&deposit)?.contract_rate;
        let currency = deposit.currency_code.as_str();
        let payload = MaturityAttestation {
            attestation_id: uuid::Uuid::new_v4().to_string(),
            deposit_id: deposit.deposit_id.clone(),
            passbook_number: passbook.passbook_number.clone(),
            customer_id: passbook.customer_id.clone(),
            branch_id: passbook.branch_id.clone(),
            deposit_version: deposit.version,
            deposit_state: deposit_state(&deposit, business_date) as i32,
            opened_on: format_date(deposit.opened_on),
            maturity_date: format_date(deposit.maturity_date),
            term_months: deposit.term_months as i32,
            principal: Some(convert::money(deposit.principal, currency)),
            balance: Some(convert::money(deposit.balance, currency)),
            contract_rate_percent: contract_rate.percent().to_string(),
            demand_rate_percent: demand_rate.percent().to_string(),
            whole_deposit: amount.is_none(),
            requested_amount: Some(convert::money(quote.amount_withdrawn, currency)),
            quote: Some(views::quote_to_proto(
                &quote,
                currency,
                contract_rate,
                demand_rate,
                deposit.day_basis,
            )),
            partial_withdrawal_used: deposit.partial_withdrawal_used,
            business_date: format_date(business_date),
            issued_at: Some(to_timestamp(issued_at)),
            expires_at: Some(to_timestamp(expires_at)),
            passbook_reissued_on: passbook.reissued_on.map(format_date).unwrap_or_default(),
            open_deposits_in_passbook: i32::try_from(open_deposits).unwrap_or(i32::MAX),
        };
        let envelope = self.state.keys.sign_attestation(payload.encode_to_vec());
        store::insert_attestation(
            connection,
            &AttestationRow {
                attestation_id: payload.attestation_id.clone(),
                deposit_id: deposit.deposit_id.clone(),
                deposit_version: deposit.version,
                payload: envelope.payload.clone(),
                key_id: envelope.key_id.clone(),
                signature: envelope.signature.clone(),
                issued_at,
                expires_at,
            },
        )
        .await
        .map_err(DepositError::from)?;

        let response = IssueMaturityAttestationResponse {
            attestation: Some(envelope_to_proto(&envelope)),
            attestation_payload: Some(payload),
        };
        Ok((response, issued_at))
    }
}

#[tonic::async_trait]
impl DepositStatusService for StatusService {
    #[instrument(skip_all, fields(passbook_number = %request.get_ref().passbook_number))]
    async fn get_passbook(
        &self,
        request: Request<GetPassbookRequest>,
    ) -> Result<Response<GetPassbookResponse>, Status> {
        let request = request.into_inner();
        let mut violations = Violations::new();
        violations.check(require_identifier("passbook_number", &request.passbook_number));
        violations.finish().map_err(DepositError::Invalid)?;

        let mut connection = self
            .state
            .store
            .pool()
            .acquire()
            .await
            .map_err(DepositError::from)?;
        let passbook = store::find_passbook(&mut connection, &request.passbook_number)
            .await
            .map_err(DepositError::from)?
            .ok_or_else(|| DepositError::PassbookNotFound(request.passbook_number.clone()))?;
        let business_date = self
            .state
            .business_date(&mut connection)
            .await
            .map_err(DepositError::from)?
            .date;
        let rows = store::list_passbook_deposits(&mut connection, &request.passbook_number)
            .await
            .map_err(DepositError::from)?;

        let mut deposits = Vec::with_capacity(rows.len());
        for row in &rows {
            // A withdrawn or closed deposit has nothing left to quote. An open
            // one that cannot be quoted today (no demand rate posted, or a
            // business date before its opening) is still listed, without a
            // quote, so the view never hides a deposit.
            let quote = if row.status == DepositStatus::Open {
                match quote_deposit(&mut connection, row, business_date, None).await {
                    Ok((quote, demand_rate)) => Some(views::quote_to_proto(
                        &quote,
                        &row.currency_code,
                        super::interest_deposit(row)?.contract_rate,
                        demand_rate,
                        row.day_basis,
                    )),
                    Err(DepositError::DemandRateNotPosted { .. } | DepositError::Rule(_)) => None,
                    Err(error) => return Err(error.into()),
                }
            } else {
                None
            };
            deposits.push(views::deposit_to_proto(row, business_date, quote));
        }

        Ok(Response::new(GetPassbookResponse {
            passbook: Some(views::passbook_to_proto(&passbook)),
            deposits,
            business_date: format_date(business_date),
        }))
    }

    #[instrument(skip_all, fields(deposit_id = %request.get_ref().deposit_id))]
    async fn quote_withdrawal(
        &self,
        request: Request<QuoteWithdrawalRequest>,
    ) -> Result<Response<QuoteWithdrawalResponse>, Status> {
        let request = request.into_inner();
        let mut violations = Violations::new();
        violations.check(require_identifier("deposit_id", &request.deposit_id));
        let amount = parse_amount_selection(&mut violations, request.amount.as_ref(), request.whole_deposit);
        violations.finish().map_err(DepositError::Invalid)?;

        let mut connection = self
            .state
            .store
            .pool()
            .acquire()
            .await
            .map_err(DepositError::from)?;
        let deposit = store::find_deposit(&mut connection, &request.deposit_id)
            .await
            .map_err(DepositError::from)?
            .ok_or_else(|| DepositError::DepositNotFound(request.deposit_id.clone()))?;
        let business_date = self
            .state
            .business_date(&mut connection)
            .await
            .map_err(DepositError::from)?
            .date;
        require_open_deposit(&deposit, business_date)?;
        let amount = require_currency(&amount, &deposit)?;
        let (quote, demand_rate) = quote_deposit(&mut connection, &deposit, business_date, amount).await?;

        let contract_rate = super::interest_deposit(&deposit)?.contract_rate;
        Ok(Response::new(QuoteWithdrawalResponse {
            quote: Some(views::quote_to_proto(
                &quote,
                &deposit.currency_code,
                contract_rate,
                demand_rate,
                deposit.day_basis,
            )),
            deposit: Some(views::deposit_to_proto(&deposit, business_date, None)),
        }))
    }

    #[instrument(skip_all, fields(request_id = %request.get_ref().request_id, deposit_id = %request.get_ref().deposit_id))]
    async fn issue_maturity_attestation(
        &self,
        request: Request<IssueMaturityAttestationRequest>,
    ) -> Result<Response<IssueMaturityAttestationResponse>, Status> {
        let request = request.into_inner();
        let mut violations = Violations::new();
        violations.check(parse_request_id("request_id", &request.request_id));
        violations.check(require_identifier("passbook_number", &request.passbook_number));
        violations.check(require_identifier("deposit_id", &request.deposit_id));
        let amount = parse_amount_selection(&mut violations, request.amount.as_ref(), request.whole_deposit);
        violations.finish().map_err(DepositError::Invalid)?;

        let key = RequestKey::new("IssueMaturityAttestation", &request.request_id, &request);
        let (key, request, amount) = (&key, &request, &amount);
        let (response, replayed) = self
            .state
            .store
            .write(|transaction| {
                Box::pin(async move {
                    if let Some(response) = key
                        .replay::<IssueMaturityAttestationResponse>(transaction)
                        .await?
                    {
                        return Ok((response, true));
                    }
                    let (response, issued_at) = self.attest(transaction, request, amount).await?;
                    key.remember(transaction, &response, issued_at).await?;
                    Ok::<_, DepositError>((response, false))
                })
            })
            .await?;
        if !replayed {
            tracing::info!(
                attestation_id = %response.attestation_payload.as_ref().map(|payload| payload.attestation_id.as_str()).unwrap_or_default(),
                "issued maturity attestation"
            );
        }
        Ok(Response::new(response))
    }

    async fn list_verification_keys(
        &self,
        _request: Request<ListVerificationKeysRequest>,
    ) -> Result<Response<ListVerificationKeysResponse>, Status> {
        // A previous key is published until its valid_until passes.
        let now = self.state.now();
        let keys = self
            .state
            .keys
            .published_keys()
            .filter(|(entry, active)| *active || entry.valid_until().is_none_or(|until| now < until))
            .map(|(entry, active)| {
                verification_key_to_proto(entry.key(), entry.valid_from(), entry.valid_until(), active)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| grpc_support::error::ApiError::internal("encoding a public key failed", &error))
            .map_err(DepositError::Invalid)?;
        Ok(Response::new(ListVerificationKeysResponse { keys }))
    }

    #[instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn execute_withdrawal(
        &self,
        request: Request<ExecuteWithdrawalRequest>,
    ) -> Result<Response<ExecuteWithdrawalResponse>, Status> {
        let response = super::execute::execute_withdrawal(&self.state, request.into_inner()).await?;
        Ok(Response::new(response))
    }

    async fn get_business_date(
        &self,
        _request: Request<GetBusinessDateRequest>,
    ) -> Result<Response<GetBusinessDateResponse>, Status> {
        let mut connection = self
            .state
            .store
            .pool()
            .acquire()
            .await
            .map_err(DepositError::from)?;
        let business_date = self
            .state
            .business_date(&mut connection)
            .await
            .map_err(DepositError::from)?;
        Ok(Response::new(GetBusinessDateResponse {
            business_date: format_date(business_date.date),
            time_zone: self.state.clock.time_zone_name().to_owned(),
            fixed: business_date.fixed,
        }))
    }
}
