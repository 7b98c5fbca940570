//! DepositAdminService: the feed from the core banking system and
//! administration. Served only on the admin listener.

use bank_proto::common::DayBasis as ProtoDayBasis;
use bank_proto::deposit::deposit_admin_service_server::DepositAdminService;
use bank_proto::deposit::{
    CloseDepositRequest, CloseDepositResponse, ListDemandRatesRequest, ListDemandRatesResponse,
    OpenDepositRequest, OpenDepositResponse, OpenPassbookRequest, OpenPassbookResponse,
    ReissuePassbookRequest, ReissuePassbookResponse, ReportPassbookLostRequest, ReportPassbookLostResponse,
    SetBusinessDateRequest, SetBusinessDateResponse, SetDemandRateRequest, SetDemandRateResponse,
};
use grpc_support::convert::{
    format_date, parse_currency_code, parse_date, parse_money, parse_positive_money, parse_request_id,
    require_identifier, require_masked_id_number, require_text,
};
use grpc_support::error::Violations;
use interest::{DayBasis, Product, Rate, Term};
use rand_core::{OsRng, RngCore};
use rust_decimal::Decimal;
use tonic::{Request, Response, Status};
use tracing::instrument;

use super::SharedState;
use crate::clock::BUSINESS_DATE_SETTING;
use crate::error::DepositError;
use crate::store::{self, DemandRateRow, NewDeposit, NewPassbook, PassbookStatus};
use crate::views;
use storage::RequestKey;

/// Product code used when a feed leaves it empty.
pub const DEFAULT_PRODUCT_CODE: &str = "TD-STD";
/// Currency used when a request leaves it empty.
pub const DEFAULT_CURRENCY: &str = "CNY";
/// Maximum length of a customer name, in characters.
const MAX_NAME_CHARS: usize = 100;
/// Maximum length of a free-text reason, in characters.
const MAX_REASON_CHARS: usize = 500;

/// The DepositAdminService implementation.
#[derive(Debug, Clone)]
pub struct AdminService {
    state: SharedState,
}

impl AdminService {
    pub fn new(state: SharedState) -> Self {
        AdminService { state }
    }
}

/// Generates an identifier: `prefix` followed by 12 random digits.
fn generate_number(prefix: &str) -> String {
    format!("{prefix}{:012}", OsRng.next_u64() % 1_000_000_000_000)
}

/// Takes the caller's identifier, or generates one when it is empty.
fn identifier_or_generated(violations: &mut Violations, field: &str, given: &str, prefix: &str) -> String {
    if given.is_empty() {
        generate_number(prefix)
    } else {
        violations.check(require_identifier(field, given));
        given.to_owned()
    }
}

#[tonic::async_trait]
impl DepositAdminService for AdminService {
    #[instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn open_passbook(
        &self,
        request: Request<OpenPassbookRequest>,
    ) -> Result<Response<OpenPassbookResponse>, Status> {
        let request = request.into_inner();
        let mut violations = Violations::new();
        violations.check(parse_request_id("request_id", &request.request_id));
        violations.check(require_identifier("customer_id", &request.customer_id));
        violations.check(require_text(
            "customer_name",
            &request.customer_name,
            MAX_NAME_CHARS,
        ));
        violations.check(require_masked_id_number(
            "masked_id_number",
            &request.masked_id_number,
        ));
        violations.check(require_identifier("branch_id", &request.branch_id));
        let passbook_number =
            identifier_or_generated(&mut violations, "passbook_number", &request.passbook_number, "PB");
        violations.finish().map_err(DepositError::Invalid)?;

        let key = RequestKey::new("OpenPassbook", &request.request_id, &request);
        let (key, request, passbook_number) = (&key, &request, &passbook_number);
        let (response, replayed) = self
            .state
            .store
            .write(|transaction| {
                Box::pin(async move {
                    if let Some(response) = key.replay::<OpenPassbookResponse>(transaction).await? {
                        return Ok((response, true));
                    }
                    if store::find_passbook(transaction, passbook_number)
                        .await?
                        .is_some()
                    {
                        return Err(DepositError::PassbookAlreadyExists(passbook_number.clone()));
                    }
                    let now = self.state.now();
                    store::insert_passbook(
                        transaction,
                        &NewPassbook {
                            passbook_number,
                            customer_id: &request.customer_id,
                            customer_name: request.customer_name.trim(),
                            masked_id_number: &request.masked_id_number,
                            branch_id: &request.branch_id,
                            opened_at: now,
                            replaces_passbook_number: None,
                            reissued_on: None,
                        },
                    )
                    .await?;
                    let passbook = store::find_passbook(transaction, passbook_number)
                        .await?
                        .ok_or_else(|| DepositError::PassbookNotFound(passbook_number.clone()))?;
                    let response = OpenPassbookResponse {
                        passbook: Some(views::passbook_to_proto(&passbook)),
                    };
                    key.remember(transaction, &response, now).await?;
                    Ok::<_, DepositError>((response, false))
                })
            })
            .await?;
        if !replayed {
            tracing::info!(passbook_number = %passbook_number, "passbook opened");
        }
        Ok(Response::new(response))
    }

    #[instrument(skip_all, fields(request_id = %request.get_ref().request_id, passbook_number = %request.get_ref().passbook_number))]
    async fn open_deposit(
        &self,
        request: Request<OpenDepositRequest>,
    ) -> Result<Response<OpenDepositResponse>, Status> {
        let request = request.into_inner();
        let mut violations = Violations::new();
        violations.check(parse_request_id("request_id", &request.request_id));
        violations.check(require_identifier("passbook_number", &request.passbook_number));
        let deposit_id = identifier_or_generated(&mut violations, "deposit_id", &request.deposit_id, "TD");
        let principal = violations.check(parse_positive_money("principal", request.principal.as_ref()));
        let term = violations.check(
            u32::try_from(request.term_months)
                .ok()
                .and_then(|months| Term::try_from(months).ok())
                .ok_or_else(|| {
                    grpc_support::error::FieldViolation::new("term_months", "expected 3, 6, 12, 24, 36 or 60")
                }),
        );
        let contract_rate =
            violations.check(request.contract_rate_percent.parse::<Rate>().map_err(|error| {
                grpc_support::error::FieldViolation::new("contract_rate_percent", error.to_string())
            }));
        let opened_on = violations.check(parse_date("opened_on", &request.opened_on));
        let product = request.product.clone().unwrap_or_default();
        let product_code = if product.product_code.is_empty() {
            DEFAULT_PRODUCT_CODE.to_owned()
        } else {
            violations.check(require_identifier("product.product_code", &product.product_code));
            product.product_code.clone()
        };
        let day_basis = match ProtoDayBasis::try_from(product.day_basis) {
            Ok(ProtoDayBasis::Unspecified | ProtoDayBasis::Actual360) => DayBasis::Actual360,
            Ok(ProtoDayBasis::Actual365) => DayBasis::Actual365,
            Err(_) => {
                violations.add("product.day_basis", "unknown day basis");
                DayBasis::Actual360
            }
        };
        let minimum = match product.minimum_remaining_principal.as_ref() {
            None => None,
            Some(money) => violations.check(parse_money("product.minimum_remaining_principal", Some(money))),
        };
        violations.finish().map_err(DepositError::Invalid)?;
        // Every value is Some here because finish returned Ok.
        let (Some((principal, currency)), Some(term), Some(contract_rate), Some(opened_on)) =
            (principal, term, contract_rate, opened_on)
        else {
            unreachable!("violations were checked");
        };

        let mut violations = Violations::new();
        let minimum_remaining = match minimum {
            None => Product::DEFAULT_MIN_REMAINING_PRINCIPAL,
            Some((value, minimum_currency)) => {
                if minimum_currency != currency {
                    violations.add(
                        "product.minimum_remaining_principal.currency_code",
                        "must be the principal's currency",
                    );
                }
                if value < Decimal::ZERO {
                    violations.add("product.minimum_remaining_principal.amount", "must be 0 or more");
                }
                value
            }
        };
        let interest_deposit = interest::Deposit {
            principal,
            contract_rate,
            term,
            opened_on,
            product: Product {
                day_basis,
                min_remaining_principal: minimum_remaining,
                minor_unit_digits: grpc_support::convert::minor_unit_digits(&currency).unwrap_or(2),
            },
            partial_withdrawal_used: false,
        };
        if let Err(error) = interest_deposit.validate() {
            violations.add("principal", error.to_string());
        }
        let maturity_date = interest_deposit.maturity_date().ok();
        if maturity_date.is_none() {
            violations.add("opened_on", "the maturity date is out of the supported range");
        }
        violations.finish().map_err(DepositError::Invalid)?;
        let maturity_date = maturity_date.unwrap_or(opened_on);

        let mut scaled_principal = principal;
        scaled_principal.rescale(interest_deposit.product.minor_unit_digits);
        let mut scaled_minimum = minimum_remaining;
        scaled_minimum.rescale(interest_deposit.product.minor_unit_digits);

        let key = RequestKey::new("OpenDeposit", &request.request_id, &request);
        let (key, request, deposit_id, product_code, currency) =
            (&key, &request, &deposit_id, &product_code, &currency);
        let (response, replayed) = self
            .state
            .store
            .write(|transaction| {
                Box::pin(async move {
                    if let Some(response) = key.replay::<OpenDepositResponse>(transaction).await? {
                        return Ok((response, true));
                    }
                    super::status::require_usable_passbook(
                        store::find_passbook(transaction, &request.passbook_number).await?,
                        &request.passbook_number,
                    )?;
                    let business_date = self.state.business_date(transaction).await?.date;
                    if opened_on > business_date {
                        let mut violations = Violations::new();
                        violations.add(
                            "opened_on",
                            format!("must not be after the business date {business_date}"),
                        );
                        return Err(DepositError::Invalid(violations.finish().unwrap_err()));
                    }
                    if store::find_deposit(transaction, deposit_id).await?.is_some() {
                        return Err(DepositError::DepositAlreadyExists(deposit_id.clone()));
                    }
                    store::insert_deposit(
                        transaction,
                        &NewDeposit {
                            deposit_id,
                            passbook_number: &request.passbook_number,
                            currency_code: currency,
                            principal: scaled_principal,
                            term_months: term.months(),
                            contract_rate_percent: contract_rate.percent(),
                            opened_on,
                            maturity_date,
                            product_code,
                            day_basis,
                            minimum_remaining_principal: scaled_minimum,
                        },
                    )
                    .await?;
                    let deposit = store::find_deposit(transaction, deposit_id)
                        .await?
                        .ok_or_else(|| DepositError::DepositNotFound(deposit_id.clone()))?;
                    let response = OpenDepositResponse {
                        deposit: Some(views::deposit_to_proto(&deposit, business_date, None)),
                    };
                    key.remember(transaction, &response, self.state.now()).await?;
                    Ok::<_, DepositError>((response, false))
                })
            })
            .await?;
        if !replayed {
            tracing::info!(deposit_id = %deposit_id, "deposit opened");
        }
        Ok(Response::new(response))
    }

    #[instrument(skip_all, fields(request_id = %request.get_ref().request_id, deposit_id = %request.get_ref().deposit_id))]
    async fn close_deposit(
        &self,
        request: Request<CloseDepositRequest>,
    ) -> Result<Response<CloseDepositResponse>, Status> {
        let request = request.into_inner();
        let mut violations = Violations::new();
        violations.check(parse_request_id("request_id", &request.request_id));
        violations.check(require_identifier("deposit_id", &request.deposit_id));
        violations.check(require_text("reason", &request.reason, MAX_REASON_CHARS));
        violations.finish().map_err(DepositError::Invalid)?;

        let key = RequestKey::new("CloseDeposit", &request.request_id, &request);
        let (key, request) = (&key, &request);
        let (response, replayed) = self
            .state
            .store
            .write(|transaction| {
                Box::pin(async move {
                    if let Some(response) = key.replay::<CloseDepositResponse>(transaction).await? {
                        return Ok((response, true));
                    }
                    let deposit = store::find_deposit(transaction, &request.deposit_id)
                        .await?
                        .ok_or_else(|| DepositError::DepositNotFound(request.deposit_id.clone()))?;
                    let business_date = self.state.business_date(transaction).await?.date;
                    super::status::require_open_deposit(&deposit, business_date)?;
                    store::close_deposit(transaction, &deposit.deposit_id, request.reason.trim()).await?;
                    let deposit = store::find_deposit(transaction, &request.deposit_id)
                        .await?
                        .ok_or_else(|| DepositError::DepositNotFound(request.deposit_id.clone()))?;
                    let response = CloseDepositResponse {
                        deposit: Some(views::deposit_to_proto(&deposit, business_date, None)),
                    };
                    key.remember(transaction, &response, self.state.now()).await?;
                    Ok::<_, DepositError>((response, false))
                })
            })
            .await?;
        if !replayed {
            tracing::info!(deposit_id = %request.deposit_id, "deposit closed outside this service");
        }
        Ok(Response::new(response))
    }

    #[instrument(skip_all, fields(request_id = %request.get_ref().request_id, passbook_number = %request.get_ref().passbook_number))]
    async fn report_passbook_lost(
        &self,
        request: Request<ReportPassbookLostRequest>,
    ) -> Result<Response<ReportPassbookLostResponse>, Status> {
        let request = request.into_inner();
        let mut violations = Violations::new();
        violations.check(parse_request_id("request_id", &request.request_id));
        violations.check(require_identifier("passbook_number", &request.passbook_number));
        violations.finish().map_err(DepositError::Invalid)?;

        let key = RequestKey::new("ReportPassbookLost", &request.request_id, &request);
        let (key, request) = (&key, &request);
        let (response, replayed) = self
            .state
            .store
            .write(|transaction| {
                Box::pin(async move {
                    if let Some(response) = key.replay::<ReportPassbookLostResponse>(transaction).await? {
                        return Ok((response, true));
                    }
                    super::status::require_usable_passbook(
                        store::find_passbook(transaction, &request.passbook_number).await?,
                        &request.passbook_number,
                    )?;
                    let now = self.state.now();
                    store::mark_passbook_lost(transaction, &request.passbook_number, now).await?;
                    let passbook = store::find_passbook(transaction, &request.passbook_number)
                        .await?
                        .ok_or_else(|| DepositError::PassbookNotFound(request.passbook_number.clone()))?;
                    let response = ReportPassbookLostResponse {
                        passbook: Some(views::passbook_to_proto(&passbook)),
                    };
                    key.remember(transaction, &response, now).await?;
                    Ok::<_, DepositError>((response, false))
                })
            })
            .await?;
        if !replayed {
            tracing::info!(passbook_number = %request.passbook_number, "passbook reported lost");
        }
        Ok(Response::new(response))
    }

    #[instrument(skip_all, fields(request_id = %request.get_ref().request_id, passbook_number = %request.get_ref().passbook_number))]
    async fn reissue_passbook(
        &self,
        request: Request<ReissuePassbookRequest>,
    ) -> Result<Response<ReissuePassbookResponse>, Status> {
        let request = request.into_inner();
        let mut violations = Violations::new();
        violations.check(parse_request_id("request_id", &request.request_id));
        violations.check(require_identifier("passbook_number", &request.passbook_number));
        let new_number = identifier_or_generated(
            &mut violations,
            "new_passbook_number",
            &request.new_passbook_number,
            "PB",
        );
        if new_number == request.passbook_number {
            violations.add(
                "new_passbook_number",
                "must differ from the replaced passbook number",
            );
        }
        violations.finish().map_err(DepositError::Invalid)?;

        let key = RequestKey::new("ReissuePassbook", &request.request_id, &request);
        let (key, request, new_number) = (&key, &request, &new_number);
        let (response, replayed) = self
            .state
            .store
            .write(|transaction| {
                Box::pin(async move {
                    if let Some(response) = key.replay::<ReissuePassbookResponse>(transaction).await? {
                        return Ok((response, true));
                    }
                    let old = store::find_passbook(transaction, &request.passbook_number)
                        .await?
                        .ok_or_else(|| DepositError::PassbookNotFound(request.passbook_number.clone()))?;
                    if old.status != PassbookStatus::ReportedLost {
                        return Err(DepositError::PassbookNotReportedLost(
                            request.passbook_number.clone(),
                        ));
                    }
                    let now = self.state.now();
                    let business_date = self.state.business_date(transaction).await?.date;
                    if store::find_passbook(transaction, new_number).await?.is_some() {
                        return Err(DepositError::PassbookAlreadyExists(new_number.clone()));
                    }
                    store::insert_passbook(
                        transaction,
                        &NewPassbook {
                            passbook_number: new_number,
                            customer_id: &old.customer_id,
                            customer_name: &old.customer_name,
                            masked_id_number: &old.masked_id_number,
                            branch_id: &old.branch_id,
                            opened_at: now,
                            replaces_passbook_number: Some(&old.passbook_number),
                            reissued_on: Some(business_date),
                        },
                    )
                    .await?;
                    store::replace_passbook(transaction, &old.passbook_number, new_number).await?;
                    let new = store::find_passbook(transaction, new_number)
                        .await?
                        .ok_or_else(|| DepositError::PassbookNotFound(new_number.clone()))?;
                    let replaced = store::find_passbook(transaction, &old.passbook_number)
                        .await?
                        .ok_or_else(|| DepositError::PassbookNotFound(old.passbook_number.clone()))?;
                    let response = ReissuePassbookResponse {
                        passbook: Some(views::passbook_to_proto(&new)),
                        replaced_passbook: Some(views::passbook_to_proto(&replaced)),
                    };
                    key.remember(transaction, &response, now).await?;
                    Ok::<_, DepositError>((response, false))
                })
            })
            .await?;
        if !replayed {
            tracing::info!(old = %request.passbook_number, new = %new_number, "passbook reissued");
        }
        Ok(Response::new(response))
    }

    #[instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn set_demand_rate(
        &self,
        request: Request<SetDemandRateRequest>,
    ) -> Result<Response<SetDemandRateResponse>, Status> {
        let request = request.into_inner();
        let mut violations = Violations::new();
        violations.check(parse_request_id("request_id", &request.request_id));
        let effective_from = violations.check(parse_date("effective_from", &request.effective_from));
        let rate =
            violations.check(request.rate_percent.parse::<Rate>().map_err(|error| {
                grpc_support::error::FieldViolation::new("rate_percent", error.to_string())
            }));
        let currency = if request.currency_code.is_empty() {
            Some(DEFAULT_CURRENCY)
        } else {
            violations.check(parse_currency_code("currency_code", &request.currency_code))
        };
        violations.finish().map_err(DepositError::Invalid)?;
        let (Some(effective_from), Some(rate), Some(currency)) = (effective_from, rate, currency) else {
            unreachable!("violations were checked");
        };

        let key = RequestKey::new("SetDemandRate", &request.request_id, &request);
        let key = &key;
        let (response, replayed) = self
            .state
            .store
            .write(|transaction| {
                Box::pin(async move {
                    if let Some(response) = key.replay::<SetDemandRateResponse>(transaction).await? {
                        return Ok((response, true));
                    }
                    if store::find_demand_rate(transaction, currency, effective_from)
                        .await?
                        .is_some()
                    {
                        return Err(DepositError::DemandRateAlreadyPosted {
                            currency_code: currency.to_owned(),
                            effective_from,
                        });
                    }
                    let row = DemandRateRow {
                        currency_code: currency.to_owned(),
                        effective_from,
                        rate_percent: rate.percent(),
                        posted_at: self.state.now(),
                    };
                    store::insert_demand_rate(transaction, &row).await?;
                    let response = SetDemandRateResponse {
                        demand_rate: Some(views::demand_rate_to_proto(&row)),
                    };
                    key.remember(transaction, &response, row.posted_at).await?;
                    Ok::<_, DepositError>((response, false))
                })
            })
            .await?;
        if !replayed {
            tracing::info!(%currency, %effective_from, rate = %rate, "demand rate posted");
        }
        Ok(Response::new(response))
    }

    async fn list_demand_rates(
        &self,
        request: Request<ListDemandRatesRequest>,
    ) -> Result<Response<ListDemandRatesResponse>, Status> {
        let request = request.into_inner();
        let currency = if request.currency_code.is_empty() {
            DEFAULT_CURRENCY
        } else {
            parse_currency_code("currency_code", &request.currency_code).map_err(|violation| {
                let mut violations = Violations::new();
                violations.add(violation.field, violation.description);
                DepositError::Invalid(violations.finish().unwrap_err())
            })?
        };
        let mut connection = self
            .state
            .store
            .pool()
            .acquire()
            .await
            .map_err(DepositError::from)?;
        let rows = store::list_demand_rates(&mut connection, currency)
            .await
            .map_err(DepositError::from)?;
        Ok(Response::new(ListDemandRatesResponse {
            demand_rates: rows.iter().map(views::demand_rate_to_proto).collect(),
        }))
    }

    #[instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn set_business_date(
        &self,
        request: Request<SetBusinessDateRequest>,
    ) -> Result<Response<SetBusinessDateResponse>, Status> {
        let request = request.into_inner();
        let mut violations = Violations::new();
        violations.check(parse_request_id("request_id", &request.request_id));
        let date = if request.business_date.is_empty() {
            None
        } else {
            violations.check(parse_date("business_date", &request.business_date))
        };
        violations.finish().map_err(DepositError::Invalid)?;
        if !self.state.clock.allows_override() {
            return Err(DepositError::BusinessDateOverrideDisabled.into());
        }

        let text = date.map(format_date);
        let text = &text;
        let business_date = self
            .state
            .store
            .write(|transaction| {
                Box::pin(async move {
                    store::put_setting(transaction, BUSINESS_DATE_SETTING, text.as_deref()).await?;
                    Ok::<_, DepositError>(self.state.business_date(transaction).await?)
                })
            })
            .await?;
        tracing::warn!(business_date = %business_date.date, "business date set by an administrator");
        Ok(Response::new(SetBusinessDateResponse {
            business_date: format_date(business_date.date),
        }))
    }
}
