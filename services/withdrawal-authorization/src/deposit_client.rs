//! The client side of deposit-status, with a timeout on every call and a
//! split of failures into "try again" and "refused".

use std::time::Duration;

use bank_proto::common::SignedEnvelope;
use bank_proto::deposit::deposit_status_service_client::DepositStatusServiceClient;
use bank_proto::deposit::{
    ExecuteWithdrawalRequest, ExecuteWithdrawalResponse, GetPassbookRequest, GetPassbookResponse,
    ListVerificationKeysRequest,
};
use grpc_support::convert::{PublishedKey, verification_key_from_proto};
use grpc_support::error::ErrorSummary;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

/// A failed call to deposit-status.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DepositCallError {
    /// deposit-status could not be reached, was overloaded, timed out or
    /// failed internally. The call may succeed later; nothing is known to have
    /// been refused.
    #[error("deposit-status unavailable: {0}")]
    Unavailable(String),
    /// deposit-status received the request and rejected it.
    #[error("deposit-status refused: {0}")]
    Refused(ErrorSummary),
}

impl DepositCallError {
    fn from_status(status: &tonic::Status) -> Self {
        match status.code() {
            // Codes that say nothing about whether the request was valid:
            // the server was unreachable, busy, slow or broken.
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Unknown
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Internal => {
                DepositCallError::Unavailable(format!("{}: {}", status.code(), status.message()))
            }
            _ => DepositCallError::Refused(ErrorSummary::from_status(status)),
        }
    }
}

/// A lazily connected client for deposit-status's teller-facing listener.
#[derive(Debug, Clone)]
pub struct DepositClient {
    client: DepositStatusServiceClient<Channel>,
}

impl DepositClient {
    /// Creates a client for `url`. Nothing connects until the first call, so
    /// the service starts even while deposit-status is down.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, tonic::transport::Error> {
        let channel = Endpoint::from_shared(url.to_owned())?
            .connect_timeout(timeout)
            .timeout(timeout)
            .connect_lazy();
        Ok(DepositClient {
            client: DepositStatusServiceClient::new(channel),
        })
    }

    /// Fetches the keys that verify attestations. Keys whose message is
    /// malformed are skipped with a warning rather than failing the fetch.
    pub async fn list_verification_keys(&self) -> Result<Vec<PublishedKey>, DepositCallError> {
        let response = self
            .client
            .clone()
            .list_verification_keys(ListVerificationKeysRequest {})
            .await
            .map_err(|status| DepositCallError::from_status(&status))?
            .into_inner();
        let mut keys = Vec::with_capacity(response.keys.len());
        for (index, message) in response.keys.iter().enumerate() {
            match verification_key_from_proto(&format!("keys[{index}]"), message) {
                Ok(key) => keys.push(key),
                Err(violation) => {
                    tracing::warn!(key_id = %message.key_id, %violation, "skipping a malformed deposit-status key");
                }
            }
        }
        Ok(keys)
    }

    /// Returns a passbook with every deposit in it.
    pub async fn get_passbook(&self, passbook_number: &str) -> Result<GetPassbookResponse, DepositCallError> {
        self.client
            .clone()
            .get_passbook(GetPassbookRequest {
                passbook_number: passbook_number.to_owned(),
            })
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| DepositCallError::from_status(&status))
    }

    /// Has deposit-status execute a signed release order.
    pub async fn execute_withdrawal(
        &self,
        order: SignedEnvelope,
    ) -> Result<ExecuteWithdrawalResponse, DepositCallError> {
        self.client
            .clone()
            .execute_withdrawal(ExecuteWithdrawalRequest {
                request_id: uuid::Uuid::new_v4().to_string(),
                release_order: Some(order),
            })
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| DepositCallError::from_status(&status))
    }
}
