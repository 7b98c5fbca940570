"""Client side of the end-to-end suite: endpoints, channels, Ed25519 signing,
error details and the steps of the teller flow.

Every message class comes from the Python code that run.sh generates from
proto/ with grpcio-tools. Nothing here defines a message by hand.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import os
import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import TypeVar

import grpc
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from google.protobuf import any_pb2
from google.protobuf import message as protobuf_message
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from bank.common.v1 import envelope_pb2, money_pb2
from bank.deposit.v1 import (
    attestation_pb2,
    deposit_admin_pb2,
    deposit_admin_pb2_grpc,
    deposit_status_pb2,
    deposit_status_pb2_grpc,
    resources_pb2,
)
from bank.withdrawal.v1 import (
    audit_pb2,
    authorization_pb2,
    signed_payloads_pb2,
    staff_pb2,
    withdrawal_admin_pb2,
    withdrawal_admin_pb2_grpc,
    withdrawal_authorization_pb2,
    withdrawal_authorization_pb2_grpc,
)

# ErrorInfo domains of the two services (crates/grpc-support/src/error.rs).
DEPOSIT_STATUS_DOMAIN = "deposit-status.bank"
WITHDRAWAL_AUTHORIZATION_DOMAIN = "withdrawal-authorization.bank"

# Service names that grpc.health.v1 checks take: the fully qualified names.
DEPOSIT_STATUS_SERVICE = deposit_status_pb2.DESCRIPTOR.services_by_name["DepositStatusService"].full_name
WITHDRAWAL_AUTHORIZATION_SERVICE = withdrawal_authorization_pb2.DESCRIPTOR.services_by_name[
    "WithdrawalAuthorizationService"
].full_name

# Deadline of an ordinary call, in seconds.
CALL_TIMEOUT_SECONDS = 15.0
# Deadline of ReleaseAuthorization, in seconds. The service gives up on
# deposit-status after 5 s and on the whole request after 10 s by default.
RELEASE_TIMEOUT_SECONDS = 30.0

# A key id is this prefix and the first 16 bytes of SHA-256 over the raw
# 32-byte public key, in lowercase hex (crates/attestation/src/verifying_key.rs).
KEY_ID_PREFIX = "ed25519:"
KEY_ID_DIGEST_BYTES = 16

# Defaults of bank-dev with its default port base, as README.md lists them.
DEFAULT_DEPOSIT_STATUS = "127.0.0.1:50051"
DEFAULT_DEPOSIT_ADMIN = "127.0.0.1:50052"
DEFAULT_AUTHORIZATION = "127.0.0.1:50061"
DEFAULT_AUTHORIZATION_ADMIN = "127.0.0.1:50062"

# Channel options that keep reconnection quick after a replica restarts: the
# gRPC default backoff grows to 120 s between attempts.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
]

ResponseT = TypeVar("ResponseT")


def progress(message: str) -> None:
    """Print one progress line of a scenario, at once."""
    print(f"[e2e] {message}", flush=True)


# --- Identifiers, money and time ------------------------------------------


def new_request_id() -> str:
    """Return a random lower-case UUID, as the services require for request_id."""
    return str(uuid.uuid4())


def random_identifier(prefix: str) -> str:
    """Return a fresh identifier such as `PB-E2E-1a2b3c4d5e6f`, unique per run."""
    return f"{prefix}-E2E-{secrets.token_hex(6)}"


def cny(amount: str) -> money_pb2.Money:
    """Build a CNY amount as the contracts carry it, a decimal string."""
    return money_pb2.Money(amount=amount, currency_code="CNY")


def now_timestamp() -> Timestamp:
    """Return the current instant as a protobuf Timestamp."""
    timestamp = Timestamp()
    timestamp.FromDatetime(datetime.datetime.now(datetime.timezone.utc))
    return timestamp


# --- Endpoints and channels -----------------------------------------------


def _target(variable: str, default: str) -> str:
    """Read a host:port from the environment, dropping an http:// prefix."""
    value = os.environ.get(variable, "").strip() or default
    for scheme in ("http://", "https://"):
        if value.startswith(scheme):
            value = value[len(scheme) :]
    return value.rstrip("/")


@dataclasses.dataclass(frozen=True)
class Endpoints:
    """host:port of every listener the suite calls."""

    deposit_status: str
    deposit_admin: str
    # Replica 1 and replica 2 of withdrawal-authorization, in that order.
    authorization: tuple[str, str]
    authorization_admin: tuple[str, str]

    @classmethod
    def from_environment(cls) -> Endpoints:
        """Read the BANK_E2E_* variables. Replica 2 defaults to replica 1."""
        authorization_1 = _target("BANK_E2E_AUTHORIZATION_1", DEFAULT_AUTHORIZATION)
        authorization_admin_1 = _target("BANK_E2E_AUTHORIZATION_ADMIN_1", DEFAULT_AUTHORIZATION_ADMIN)
        return cls(
            deposit_status=_target("BANK_E2E_DEPOSIT_STATUS", DEFAULT_DEPOSIT_STATUS),
            deposit_admin=_target("BANK_E2E_DEPOSIT_ADMIN", DEFAULT_DEPOSIT_ADMIN),
            authorization=(
                authorization_1,
                _target("BANK_E2E_AUTHORIZATION_2", authorization_1),
            ),
            authorization_admin=(
                authorization_admin_1,
                _target("BANK_E2E_AUTHORIZATION_ADMIN_2", authorization_admin_1),
            ),
        )


def open_channel(target: str) -> grpc.Channel:
    """Open a plaintext channel to host:port, as the services speak no TLS."""
    return grpc.insecure_channel(target, options=CHANNEL_OPTIONS)


def health_status(target: str, service: str, timeout: float = 2.0) -> str:
    """Return the grpc.health.v1 status name of `service` at `target`.

    A listener that does not respond within `timeout` seconds, or rejects
    the connection, gives "UNREACHABLE" instead of an exception, so callers
    can poll with it.
    """
    channel = grpc.insecure_channel(target)
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    except grpc.RpcError:
        return "UNREACHABLE"
    finally:
        channel.close()


# --- Errors -----------------------------------------------------------------


class ServiceError(Exception):
    """A failed call, with the rich error details the services attach.

    `reason` and `domain` come from google.rpc.ErrorInfo. They are None for a
    failure without details, such as a connection that could not be opened.
    """

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason: str | None = None
        self.domain: str | None = None
        self.metadata: dict[str, str] = {}
        self.field_violations: list[tuple[str, str]] = []
        # (type, subject, description) of each google.rpc.PreconditionFailure violation.
        self.precondition_violations: list[tuple[str, str, str]] = []
        self.localized_zh_cn: str | None = None
        self.retry_delay_seconds: float | None = None

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> ServiceError:
        """Decode the status and the grpc-status-details-bin trailer of a failed call."""
        code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
        message = error.details() if isinstance(error, grpc.Call) else str(error)
        result = cls(code, message or "")
        status = rpc_status.from_call(error) if isinstance(error, grpc.Call) else None
        if status is None:
            return result
        for detail in status.details:
            result._add_detail(detail)
        return result

    def __str__(self) -> str:
        if self.reason is None:
            return f"{self.code.name}: {self.message}"
        return f"{self.code.name} {self.reason}: {self.message}"

    def _add_detail(self, detail: any_pb2.Any) -> None:
        """Record one google.protobuf.Any of the status details."""
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            self.reason = info.reason
            self.domain = info.domain
            self.metadata = dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            self.field_violations = [
                (violation.field, violation.description) for violation in bad_request.field_violations
            ]
        elif detail.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
            failure = error_details_pb2.PreconditionFailure()
            detail.Unpack(failure)
            self.precondition_violations = [
                (violation.type, violation.subject, violation.description) for violation in failure.violations
            ]
        elif detail.Is(error_details_pb2.LocalizedMessage.DESCRIPTOR):
            localized = error_details_pb2.LocalizedMessage()
            detail.Unpack(localized)
            if localized.locale == "zh-CN":
                self.localized_zh_cn = localized.message
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            self.retry_delay_seconds = retry.retry_delay.ToTimedelta().total_seconds()


def call(
    method: Callable[..., ResponseT], request: protobuf_message.Message, timeout: float = CALL_TIMEOUT_SECONDS
) -> ResponseT:
    """Make one unary call with a deadline, raising ServiceError when it fails."""
    try:
        return method(request, timeout=timeout)
    except grpc.RpcError as error:
        raise ServiceError.from_rpc_error(error) from None


# --- Signing ----------------------------------------------------------------


def pae(payload_type: str, payload: bytes) -> bytes:
    """Encode the DSSE v1 pre-authentication encoding that every signature covers.

    `"DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload`, lengths in
    bytes as ASCII decimal (crates/attestation/src/pae.rs).
    """
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(type_bytes), type_bytes, len(payload), payload)


def key_id_of(public_key: bytes) -> str:
    """Derive the key id of a raw 32-byte Ed25519 public key."""
    return KEY_ID_PREFIX + hashlib.sha256(public_key).digest()[:KEY_ID_DIGEST_BYTES].hex()


def payload_type_of(message: protobuf_message.Message) -> str:
    """Return the payload_type of a signed message: its fully qualified protobuf name."""
    return message.DESCRIPTOR.full_name


def verify_envelope(envelope: envelope_pb2.SignedEnvelope, keys: Iterable[envelope_pb2.VerificationKey]) -> bool:
    """Check an envelope's signature against the published key its key_id names.

    The key id is also derived again from the key's bytes, so a list that
    pairs an id with another key fails here.
    """
    for key in keys:
        if key.key_id != envelope.key_id:
            continue
        if key_id_of(key.public_key) != key.key_id:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(
                envelope.signature, pae(envelope.payload_type, envelope.payload)
            )
        except InvalidSignature:
            return False
        return True
    return False


@dataclasses.dataclass
class StaffMember:
    """A member of staff with a fresh Ed25519 key, generated for this run."""

    staff_id: str
    name: str
    branch_id: str
    private_key: Ed25519PrivateKey = dataclasses.field(default_factory=Ed25519PrivateKey.generate, repr=False)

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte public key."""
        return self.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def public_key_pem(self) -> str:
        """The public key as a PEM "PUBLIC KEY" block (SubjectPublicKeyInfo, RFC 8410)."""
        return (
            self.private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode("ascii")
        )

    @property
    def key_id(self) -> str:
        """The key id the services derive from the public key."""
        return key_id_of(self.public_key)

    def sign(self, message: protobuf_message.Message) -> envelope_pb2.SignedEnvelope:
        """Sign the protobuf encoding of `message` under its fully qualified name."""
        payload = message.SerializeToString()
        payload_type = payload_type_of(message)
        return envelope_pb2.SignedEnvelope(
            payload_type=payload_type,
            payload=payload,
            key_id=self.key_id,
            signature=self.private_key.sign(pae(payload_type, payload)),
        )


# --- Views of authorizations and audit trails -------------------------------


def requirement_satisfied(authorization: authorization_pb2.Authorization, kind: int) -> bool | None:
    """Return whether a requirement is met, or None when the authorization does not have it."""
    for requirement in authorization.requirements:
        if requirement.kind == kind:
            return requirement.satisfied
    return None


def disclosure_text(authorization: authorization_pb2.Authorization, language: str) -> authorization_pb2.DisclosureText:
    """Return the disclosure in `language`, raising AssertionError when it is missing."""
    for text in authorization.disclosure:
        if text.language == language:
            return text
    languages = [text.language for text in authorization.disclosure]
    raise AssertionError(
        f"authorization {authorization.authorization_id} has no {language} disclosure, only {languages}"
    )


def decoded_entries(records: Sequence[audit_pb2.AuditRecord]) -> list[audit_pb2.AuditEntry]:
    """Decode each record's stored entry bytes, as a verifier does."""
    return [audit_pb2.AuditEntry.FromString(record.entry) for record in records]


def count_events(records: Sequence[audit_pb2.AuditRecord], event_type: int) -> int:
    """Count the records of one event type."""
    return sum(1 for entry in decoded_entries(records) if entry.event_type == event_type)


def record_hash_is_valid(record: audit_pb2.AuditRecord) -> bool:
    """Check record_sha256 = SHA-256(previous_sha256 as ASCII hex || entry bytes)."""
    digest = hashlib.sha256(record.previous_sha256.encode("ascii") + record.entry).hexdigest()
    return digest == record.record_sha256


# --- The client -------------------------------------------------------------


class BankClient:
    """Stubs of every listener, and the teller flow built on them.

    Methods that take `replica` call withdrawal-authorization replica 1
    (index 0) or replica 2 (index 1).
    """

    def __init__(self, endpoints: Endpoints) -> None:
        self.endpoints = endpoints
        self._channels: list[grpc.Channel] = []
        self.deposit_status = deposit_status_pb2_grpc.DepositStatusServiceStub(self._open(endpoints.deposit_status))
        self.deposit_admin = deposit_admin_pb2_grpc.DepositAdminServiceStub(self._open(endpoints.deposit_admin))
        self.authorization = [
            withdrawal_authorization_pb2_grpc.WithdrawalAuthorizationServiceStub(self._open(target))
            for target in endpoints.authorization
        ]
        self.authorization_admin = [
            withdrawal_admin_pb2_grpc.WithdrawalAdminServiceStub(self._open(target))
            for target in endpoints.authorization_admin
        ]

    def _open(self, target: str) -> grpc.Channel:
        channel = open_channel(target)
        self._channels.append(channel)
        return channel

    def close(self) -> None:
        """Close every channel."""
        for channel in self._channels:
            channel.close()

    # Feed and staff directory, on the admin listeners.

    def business_date(self) -> deposit_status_pb2.GetBusinessDateResponse:
        """Return deposit-status's business date."""
        return call(self.deposit_status.GetBusinessDate, deposit_status_pb2.GetBusinessDateRequest())

    def ensure_business_date(self, business_date: str) -> None:
        """Make `business_date` deposit-status's business date.

        bank-dev fixes the date by configuration, so nothing is called there.
        A stack on the clock needs DepositAdminService.SetBusinessDate, which
        deposit-status accepts only with DEPOSIT_STATUS_ALLOW_BUSINESS_DATE_OVERRIDE=true.
        """
        current = self.business_date()
        if current.business_date == business_date:
            return
        request = deposit_admin_pb2.SetBusinessDateRequest(request_id=new_request_id(), business_date=business_date)
        try:
            call(self.deposit_admin.SetBusinessDate, request)
        except ServiceError as error:
            if error.reason == "BUSINESS_DATE_OVERRIDE_DISABLED":
                raise AssertionError(
                    f"deposit-status books on {current.business_date} and rejects SetBusinessDate."
                    f" Start it with DEPOSIT_STATUS_ALLOW_BUSINESS_DATE_OVERRIDE=true or a business date"
                    f" fixed at {business_date}"
                ) from error
            raise
        progress(f"set deposit-status's business date from {current.business_date} to {business_date}")

    def demand_rate_in_force(self, on: str) -> Decimal | None:
        """Return the CNY demand rate in force on the ISO date `on`, or None when none is posted."""
        response = call(
            self.deposit_admin.ListDemandRates, deposit_admin_pb2.ListDemandRatesRequest(currency_code="CNY")
        )
        in_force = [rate for rate in response.demand_rates if rate.effective_from <= on]
        if not in_force:
            return None
        latest = max(in_force, key=lambda rate: rate.effective_from)
        return Decimal(latest.rate_percent)

    def ensure_demand_rate(self, rate_percent: str, effective_from: str, business_date: str) -> None:
        """Make sure `rate_percent` is the CNY demand rate in force on `business_date`.

        The rate is posted only when none is in force yet: a stack that runs
        the suite again, or bank-dev's demo data, already has it. A different
        rate in force fails, because changing it would change other users'
        figures.
        """
        expected = Decimal(rate_percent)
        current = self.demand_rate_in_force(business_date)
        if current is None:
            try:
                call(
                    self.deposit_admin.SetDemandRate,
                    deposit_admin_pb2.SetDemandRateRequest(
                        request_id=new_request_id(),
                        effective_from=effective_from,
                        rate_percent=rate_percent,
                        currency_code="CNY",
                    ),
                )
            except ServiceError as error:
                # Another run may have posted the same date in the meantime.
                if error.reason != "DEMAND_RATE_ALREADY_POSTED":
                    raise
            current = self.demand_rate_in_force(business_date)
        if current != expected:
            raise AssertionError(
                f"the CNY demand rate in force on {business_date} is {current}%, expected {expected}%:"
                " the incident's figures need the 0.10 % rate"
            )

    def enroll(
        self,
        member: StaffMember,
        role: staff_pb2.StaffRole,
        approval_limit: str | None = None,
        replica: int = 0,
    ) -> staff_pb2.StaffMember:
        """Enroll `member` with its public key on a withdrawal-authorization admin listener."""
        request = withdrawal_admin_pb2.EnrollStaffRequest(
            request_id=new_request_id(),
            staff_id=member.staff_id,
            name=member.name,
            branch_id=member.branch_id,
            role=role,
            public_key_pem=member.public_key_pem,
        )
        if approval_limit is not None:
            request.approval_limit.CopyFrom(cny(approval_limit))
        return call(self.authorization_admin[replica].EnrollStaff, request).staff_member

    def get_staff(self, staff_id: str, replica: int = 0) -> staff_pb2.StaffMember:
        """Return one member of the staff directory."""
        request = withdrawal_admin_pb2.GetStaffRequest(staff_id=staff_id)
        return call(self.authorization_admin[replica].GetStaff, request).staff_member

    def open_passbook(self, branch_id: str) -> resources_pb2.Passbook:
        """Open a passbook with a fresh number for a fresh customer."""
        request = deposit_admin_pb2.OpenPassbookRequest(
            request_id=new_request_id(),
            passbook_number=random_identifier("PB"),
            customer_id=random_identifier("C"),
            customer_name="李秀英",
            masked_id_number="110***********1234",
            branch_id=branch_id,
        )
        return call(self.deposit_admin.OpenPassbook, request).passbook

    def open_deposit(
        self, passbook_number: str, principal: str, rate_percent: str, term_months: int, opened_on: str
    ) -> resources_pb2.Deposit:
        """Open a time deposit with a fresh id in a passbook."""
        request = deposit_admin_pb2.OpenDepositRequest(
            request_id=new_request_id(),
            passbook_number=passbook_number,
            deposit_id=random_identifier("TD"),
            principal=cny(principal),
            term_months=term_months,
            contract_rate_percent=rate_percent,
            opened_on=opened_on,
        )
        return call(self.deposit_admin.OpenDeposit, request).deposit

    # deposit-status, teller-facing.

    def get_passbook(self, passbook_number: str) -> deposit_status_pb2.GetPassbookResponse:
        """Return a passbook with every deposit in it."""
        request = deposit_status_pb2.GetPassbookRequest(passbook_number=passbook_number)
        return call(self.deposit_status.GetPassbook, request)

    def deposit(self, passbook_number: str, deposit_id: str) -> resources_pb2.Deposit:
        """Return one deposit as GetPassbook shows it."""
        for deposit in self.get_passbook(passbook_number).deposits:
            if deposit.deposit_id == deposit_id:
                return deposit
        raise AssertionError(f"passbook {passbook_number} does not list deposit {deposit_id}")

    def quote_whole(self, deposit_id: str) -> deposit_status_pb2.QuoteWithdrawalResponse:
        """Quote withdrawing a deposit's whole balance today."""
        request = deposit_status_pb2.QuoteWithdrawalRequest(deposit_id=deposit_id, whole_deposit=True)
        return call(self.deposit_status.QuoteWithdrawal, request)

    def attest_whole(
        self, passbook_number: str, deposit_id: str
    ) -> deposit_status_pb2.IssueMaturityAttestationResponse:
        """Have deposit-status sign a maturity attestation for the whole balance."""
        request = deposit_status_pb2.IssueMaturityAttestationRequest(
            request_id=new_request_id(),
            passbook_number=passbook_number,
            deposit_id=deposit_id,
            whole_deposit=True,
        )
        return call(self.deposit_status.IssueMaturityAttestation, request)

    def deposit_status_keys(self) -> list[envelope_pb2.VerificationKey]:
        """Return the keys that verify deposit-status's attestations."""
        request = deposit_status_pb2.ListVerificationKeysRequest()
        return list(call(self.deposit_status.ListVerificationKeys, request).keys)

    # withdrawal-authorization, teller-facing.

    def authorization_keys(self, replica: int = 0) -> list[envelope_pb2.VerificationKey]:
        """Return the keys that verify withdrawal-authorization's release orders."""
        request = withdrawal_authorization_pb2.ListVerificationKeysRequest()
        return list(call(self.authorization[replica].ListVerificationKeys, request).keys)

    def submit_whole(
        self,
        teller: StaffMember,
        attestation: envelope_pb2.SignedEnvelope,
        attested: attestation_pb2.MaturityAttestation,
        replica: int = 0,
    ) -> authorization_pb2.Authorization:
        """Submit a teller-signed instruction to withdraw the attested deposit whole."""
        request_id = new_request_id()
        instruction = signed_payloads_pb2.WithdrawalInstruction(
            request_id=request_id,
            teller_staff_id=teller.staff_id,
            branch_id=teller.branch_id,
            passbook_number=attested.passbook_number,
            deposit_id=attested.deposit_id,
            whole_deposit=True,
            identity_check=signed_payloads_pb2.IdentityCheck(
                depositor_checked=True,
                depositor_id_type=signed_payloads_pb2.ID_DOCUMENT_TYPE_RESIDENT_ID_CARD,
                depositor_masked_id_number="110***********1234",
            ),
            maturity_attestation=attestation,
            signed_at=now_timestamp(),
        )
        request = withdrawal_authorization_pb2.SubmitWithdrawalRequest(
            request_id=request_id, instruction=teller.sign(instruction)
        )
        return call(self.authorization[replica].SubmitWithdrawal, request).authorization

    def acknowledge(
        self,
        teller: StaffMember,
        authorization: authorization_pb2.Authorization,
        language: str = "zh-CN",
        replica: int = 0,
    ) -> authorization_pb2.Authorization:
        """Record the customer's acknowledgement of the disclosure shown in `language`.

        The acknowledgement names the SHA-256 of the text itself, not the
        sha256 field the service sent with it.
        """
        text = disclosure_text(authorization, language)
        acknowledgement = signed_payloads_pb2.DisclosureAcknowledgement(
            authorization_id=authorization.authorization_id,
            language=language,
            disclosure_sha256=hashlib.sha256(text.text.encode("utf-8")).hexdigest(),
            capture_method=signed_payloads_pb2.CAPTURE_METHOD_SIGNATURE_PAD,
            capture_reference=random_identifier("PAD"),
            captured_at=now_timestamp(),
            teller_staff_id=teller.staff_id,
        )
        request = withdrawal_authorization_pb2.AcknowledgeDisclosureRequest(
            request_id=new_request_id(), acknowledgement=teller.sign(acknowledgement)
        )
        return call(self.authorization[replica].AcknowledgeDisclosure, request).authorization

    def co_sign(
        self,
        supervisor: StaffMember,
        authorizations: Sequence[authorization_pb2.Authorization],
        replica: int = 0,
    ) -> list[authorization_pb2.Authorization]:
        """Co-sign `authorizations` at the digests they carry."""
        cosignature = signed_payloads_pb2.CoSignature(
            supervisor_staff_id=supervisor.staff_id,
            authorizations=[
                signed_payloads_pb2.AuthorizationReference(
                    authorization_id=authorization.authorization_id,
                    authorization_digest=authorization.authorization_digest,
                )
                for authorization in authorizations
            ],
            signed_at=now_timestamp(),
        )
        request = withdrawal_authorization_pb2.CoSignAuthorizationsRequest(
            request_id=new_request_id(), cosignature=supervisor.sign(cosignature)
        )
        return list(call(self.authorization[replica].CoSignAuthorizations, request).authorizations)

    def release(
        self,
        authorization_id: str,
        request_id: str | None = None,
        replica: int = 0,
        timeout: float = RELEASE_TIMEOUT_SECONDS,
    ) -> withdrawal_authorization_pb2.ReleaseAuthorizationResponse:
        """Call ReleaseAuthorization, with a fresh request_id unless one is given."""
        request = withdrawal_authorization_pb2.ReleaseAuthorizationRequest(
            request_id=request_id or new_request_id(), authorization_id=authorization_id
        )
        return call(self.authorization[replica].ReleaseAuthorization, request, timeout=timeout)

    def authorize_whole(
        self,
        teller: StaffMember,
        supervisor: StaffMember,
        passbook_number: str,
        deposit_id: str,
        replica: int = 0,
    ) -> authorization_pb2.Authorization:
        """Run the teller flow up to a READY authorization for the whole deposit.

        The steps are the attestation, the signed instruction, the
        customer's acknowledgement when interest is lost, and the
        supervisor's co-signature.
        """
        issued = self.attest_whole(passbook_number, deposit_id)
        authorization = self.submit_whole(teller, issued.attestation, issued.attestation_payload, replica)
        if authorization.disclosure:
            authorization = self.acknowledge(teller, authorization, replica=replica)
        (cosigned,) = self.co_sign(supervisor, [authorization], replica=replica)
        if cosigned.state != authorization_pb2.AUTHORIZATION_STATE_READY:
            state = authorization_pb2.AuthorizationState.Name(cosigned.state)
            raise AssertionError(
                f"authorization {cosigned.authorization_id} is {state} after the co-signature, expected READY"
            )
        return cosigned

    def get_authorization(self, authorization_id: str, replica: int = 0) -> authorization_pb2.Authorization:
        """Return one authorization."""
        request = withdrawal_authorization_pb2.GetAuthorizationRequest(authorization_id=authorization_id)
        return call(self.authorization[replica].GetAuthorization, request).authorization

    def audit_trail(
        self, authorization_id: str = "", passbook_number: str = "", replica: int = 0
    ) -> list[audit_pb2.AuditRecord]:
        """Return the audit trail of one authorization or of one passbook: set exactly one."""
        request = withdrawal_authorization_pb2.GetAuditTrailRequest(
            authorization_id=authorization_id, passbook_number=passbook_number
        )
        return list(call(self.authorization[replica].GetAuditTrail, request).records)
