"""End-to-end scenarios against a running stack of deposit-status and two
replicas of withdrawal-authorization.

Every scenario opens its own passbook and deposits, and the module enrolls
its own staff, all under fresh random ids, so the suite can run again on the
same databases. The crash and outage scenarios control containers and are
skipped unless BANK_E2E_COMPOSE names the compose stack.

The figures are the incident's. 80,000.00 CNY at 3.00 % for 36 months,
opened 2022-11-14, is withdrawn on the business date 2025-02-22 at the
demand rate of 0.10 %. It pays 184.67 of interest instead of 7,200.00 at
maturity, so the customer loses 7,015.33.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

import stack
from bank.common.v1 import interest_pb2
from bank.deposit.v1 import resources_pb2
from bank.withdrawal.v1 import (
    audit_pb2,
    authorization_pb2,
    signed_payloads_pb2,
    staff_pb2,
    withdrawal_authorization_pb2,
)
from bank_client import (
    DEPOSIT_STATUS_SERVICE,
    WITHDRAWAL_AUTHORIZATION_DOMAIN,
    WITHDRAWAL_AUTHORIZATION_SERVICE,
    BankClient,
    Endpoints,
    ServiceError,
    StaffMember,
    count_events,
    decoded_entries,
    disclosure_text,
    new_request_id,
    progress,
    random_identifier,
    record_hash_is_valid,
    requirement_satisfied,
    verify_envelope,
)

BUSINESS_DATE = "2025-02-22"
DEMAND_RATE_PERCENT = "0.10"
# Effective date of the demand rate when the suite has to post it. bank-dev
# posts the same rate from the same date.
DEMAND_RATE_EFFECTIVE_FROM = "2020-01-01"
SUPERVISOR_APPROVAL_LIMIT = "1000000.00"

# The unmatured deposit of the incident.
INCIDENT_PRINCIPAL = "80000.00"
INCIDENT_RATE_PERCENT = "3.00"
INCIDENT_TERM_MONTHS = 36
INCIDENT_OPENED_ON = "2022-11-14"
INCIDENT_MATURITY_DATE = "2025-11-14"
# Days from 2022-11-14 (counted) to 2025-02-22 (not counted).
INCIDENT_DAYS_HELD = 831
# 80,000.00 x 0.10 % x 831 / 360 = 184.666..., rounded half up.
INCIDENT_INTEREST_NOW = "184.67"
# 80,000.00 x 3.00 % x 36 / 12.
INCIDENT_INTEREST_AT_MATURITY = "7200.00"
INCIDENT_INTEREST_LOST = "7015.33"
INCIDENT_TOTAL_PAYOUT = "80184.67"

# The incident passbook's other deposit, which matures on the business date.
MATURED_PRINCIPAL = "50000.00"
MATURED_RATE_PERCENT = "1.65"
MATURED_TERM_MONTHS = 12
MATURED_OPENED_ON = "2024-02-22"
# 50,000.00 x 1.65 % x 12 / 12.
MATURED_INTEREST = "825.00"

# Bound on retrying a release that failed with UNAVAILABLE, in seconds.
RELEASE_RETRY_SECONDS = 90.0
# Bound on waiting for a container to be healthy again, in seconds.
HEALTH_TIMEOUT_SECONDS = 120.0


@dataclasses.dataclass(frozen=True)
class Crew:
    """The teller and the supervisor this run enrolled, at a branch of their own."""

    teller: StaffMember
    supervisor: StaffMember


@dataclasses.dataclass(frozen=True)
class IncidentPassbook:
    """A passbook shaped like the incident's: one unmatured and one matured deposit."""

    passbook_number: str
    unmatured: resources_pb2.Deposit
    matured: resources_pb2.Deposit


# --- Fixtures ---------------------------------------------------------------


@pytest.fixture(scope="module")
def endpoints() -> Endpoints:
    """The stack's addresses from the BANK_E2E_* variables."""
    endpoints = Endpoints.from_environment()
    progress(
        f"deposit-status {endpoints.deposit_status} (admin {endpoints.deposit_admin}),"
        f" withdrawal-authorization {', '.join(endpoints.authorization)}"
        f" (admin {', '.join(endpoints.authorization_admin)})"
    )
    return endpoints


@pytest.fixture(scope="module")
def bank(endpoints: Endpoints) -> Iterator[BankClient]:
    """A client of every listener of the stack."""
    client = BankClient(endpoints)
    yield client
    client.close()


@pytest.fixture(scope="module")
def crew(bank: BankClient) -> Crew:
    """Fix the business date and the demand rate, and enroll a teller and a supervisor."""
    bank.ensure_business_date(BUSINESS_DATE)
    bank.ensure_demand_rate(DEMAND_RATE_PERCENT, DEMAND_RATE_EFFECTIVE_FROM, BUSINESS_DATE)

    branch_id = random_identifier("BR")
    teller = StaffMember(staff_id=random_identifier("T"), name="王芳", branch_id=branch_id)
    supervisor = StaffMember(staff_id=random_identifier("S"), name="张伟", branch_id=branch_id)
    bank.enroll(teller, staff_pb2.STAFF_ROLE_TELLER)
    bank.enroll(supervisor, staff_pb2.STAFF_ROLE_SUPERVISOR, approval_limit=SUPERVISOR_APPROVAL_LIMIT)
    progress(f"setup: enrolled teller {teller.staff_id} and supervisor {supervisor.staff_id} at branch {branch_id}")
    return Crew(teller=teller, supervisor=supervisor)


@pytest.fixture
def compose(endpoints: Endpoints) -> stack.ComposeStack:
    """The compose stack, or a skip of the scenario when BANK_E2E_COMPOSE is unset."""
    compose_stack = stack.ComposeStack.from_environment()
    if compose_stack is None:
        pytest.skip(
            "BANK_E2E_COMPOSE is not set, so this scenario, which pauses, stops and crashes containers, is skipped"
        )
    # Start from a healthy stack even if an earlier scenario failed half-way.
    compose_stack.wait_healthy(
        stack.DEPOSIT_STATUS, endpoints.deposit_status, DEPOSIT_STATUS_SERVICE, HEALTH_TIMEOUT_SECONDS
    )
    for service, target in zip((stack.AUTHORIZATION_1, stack.AUTHORIZATION_2), endpoints.authorization):
        compose_stack.wait_healthy(service, target, WITHDRAWAL_AUTHORIZATION_SERVICE, HEALTH_TIMEOUT_SECONDS)
    return compose_stack


# --- Helpers ----------------------------------------------------------------


def open_incident_passbook(bank: BankClient, crew: Crew) -> IncidentPassbook:
    """Open a passbook with the incident's two deposits, under fresh ids."""
    passbook = bank.open_passbook(crew.teller.branch_id)
    matured = bank.open_deposit(
        passbook.passbook_number, MATURED_PRINCIPAL, MATURED_RATE_PERCENT, MATURED_TERM_MONTHS, MATURED_OPENED_ON
    )
    unmatured = bank.open_deposit(
        passbook.passbook_number,
        INCIDENT_PRINCIPAL,
        INCIDENT_RATE_PERCENT,
        INCIDENT_TERM_MONTHS,
        INCIDENT_OPENED_ON,
    )
    progress(
        f"opened passbook {passbook.passbook_number}: unmatured {unmatured.deposit_id}"
        f" ({INCIDENT_PRINCIPAL} at {INCIDENT_RATE_PERCENT} %), matured {matured.deposit_id}"
    )
    return IncidentPassbook(passbook.passbook_number, unmatured, matured)


def assert_incident_quote(quote: interest_pb2.InterestQuote) -> None:
    """Check every figure of the quote for withdrawing the incident's deposit today."""
    assert quote.maturity_state == interest_pb2.MATURITY_STATE_UNMATURED
    assert quote.withdrawal_kind == interest_pb2.WITHDRAWAL_KIND_EARLY_FULL
    assert quote.maturity_date == INCIDENT_MATURITY_DATE
    assert quote.business_date == BUSINESS_DATE
    assert quote.days_held == INCIDENT_DAYS_HELD
    assert quote.days_overdue == 0
    assert quote.amount.amount == INCIDENT_PRINCIPAL
    assert quote.remaining_principal.amount == "0.00"
    assert quote.interest.amount == INCIDENT_INTEREST_NOW
    assert quote.interest_at_maturity.amount == INCIDENT_INTEREST_AT_MATURITY
    assert quote.interest_loss.amount == INCIDENT_INTEREST_LOST
    assert quote.overdue_interest.amount == "0.00"
    assert quote.total_payout.amount == INCIDENT_TOTAL_PAYOUT
    assert {quote.amount.currency_code, quote.interest.currency_code, quote.interest_loss.currency_code} == {"CNY"}
    assert Decimal(quote.contract_rate_percent) == Decimal(INCIDENT_RATE_PERCENT)
    assert Decimal(quote.demand_rate_percent) == Decimal(DEMAND_RATE_PERCENT)
    assert Decimal(quote.applied_rate_percent) == Decimal(DEMAND_RATE_PERCENT)
    assert quote.day_basis == interest_pb2.DAY_BASIS_ACTUAL_360


def assert_incident_payout(payout: resources_pb2.Payout, deposit_id: str) -> None:
    """Check the payout of the incident's deposit withdrawn whole and early."""
    assert payout.deposit_id == deposit_id
    assert payout.withdrawal_kind == interest_pb2.WITHDRAWAL_KIND_EARLY_FULL
    assert payout.principal.amount == INCIDENT_PRINCIPAL
    assert payout.interest.amount == INCIDENT_INTEREST_NOW
    assert payout.total.amount == INCIDENT_TOTAL_PAYOUT
    assert payout.remaining_balance.amount == "0.00"
    assert payout.deposit_state == resources_pb2.DEPOSIT_STATE_WITHDRAWN
    assert payout.business_date == BUSINESS_DATE
    assert payout.order_id


def assert_rejected(
    error: ServiceError, code_name: str, reason: str, requirement_subjects: tuple[str, ...] = ()
) -> None:
    """Check a rejection's status code, ErrorInfo and PreconditionFailure subjects."""
    assert error.code.name == code_name, f"expected {code_name}, got {error}"
    assert error.reason == reason, f"expected reason {reason}, got {error}"
    assert error.domain == WITHDRAWAL_AUTHORIZATION_DOMAIN
    assert error.localized_zh_cn, f"no zh-CN LocalizedMessage in {error}"
    subjects = [subject for _, subject, _ in error.precondition_violations]
    for suffix in requirement_subjects:
        assert any(subject.endswith(suffix) for subject in subjects), f"no violation for {suffix} in {subjects}"


def release_with_retries(
    bank: BankClient, authorization_id: str, replica: int, request_id: str | None = None
) -> withdrawal_authorization_pb2.ReleaseAuthorizationResponse:
    """Release, retrying while the call fails with UNAVAILABLE, for at most RELEASE_RETRY_SECONDS.

    Returns the response with the payout. UNAVAILABLE is the code the service
    documents as retryable, and a channel to a replica that just restarted
    can also report it once. Every other error is raised at once.
    """
    deadline = time.monotonic() + RELEASE_RETRY_SECONDS
    attempt = 1
    while True:
        try:
            return bank.release(authorization_id, request_id=request_id, replica=replica)
        except ServiceError as error:
            if error.code.name != "UNAVAILABLE" or time.monotonic() >= deadline:
                raise
            delay = error.retry_delay_seconds or 1.0
            progress(f"release attempt {attempt} on replica {replica + 1} failed ({error}), retrying in {delay:.1f} s")
            time.sleep(delay)
            attempt += 1


def assert_paid_once(
    bank: BankClient,
    authorization_id: str,
    passbook_number: str,
    deposit_id: str,
    attested_version: int,
    payouts: list[resources_pb2.Payout],
) -> dict[str, object]:
    """Check that the deposit was paid exactly once, by every account the stack keeps.

    Every release response carries the same payout, and both replicas show
    the authorization RELEASED with it. The deposit is withdrawn and its
    version went up by one, so one execution changed it. The audit trail has
    one release order and one release, whose order is signed by
    withdrawal-authorization and names the payout's order id. Returns the
    details of the RELEASED audit record.
    """
    first = payouts[0]
    assert_incident_payout(first, deposit_id)
    for payout in payouts[1:]:
        assert payout == first, f"a second release returned another payout:\n{payout}\nfirst:\n{first}"

    for replica in (0, 1):
        authorization = bank.get_authorization(authorization_id, replica=replica)
        assert authorization.state == authorization_pb2.AUTHORIZATION_STATE_RELEASED
        assert authorization.payout == first
        assert authorization.order_id == first.order_id
        assert authorization.last_error_reason == ""

    deposit = bank.deposit(passbook_number, deposit_id)
    assert deposit.state == resources_pb2.DEPOSIT_STATE_WITHDRAWN
    assert deposit.balance.amount == "0.00"
    assert deposit.version == attested_version + 1, (
        f"deposit {deposit_id} is at version {deposit.version}, but one execution from version {attested_version}"
        f" makes it {attested_version + 1}"
    )
    assert not deposit.HasField("full_withdrawal_quote")

    records = bank.audit_trail(authorization_id=authorization_id)
    assert records, f"authorization {authorization_id} has no audit trail"
    for record in records:
        assert record_hash_is_valid(record), f"audit record {record.entry_decoded.sequence} does not match its hash"
    assert count_events(records, audit_pb2.AUDIT_EVENT_TYPE_RELEASE_ORDERED) == 1
    assert count_events(records, audit_pb2.AUDIT_EVENT_TYPE_RELEASED) == 1

    (released,) = [
        entry for entry in decoded_entries(records) if entry.event_type == audit_pb2.AUDIT_EVENT_TYPE_RELEASED
    ]
    details = json.loads(released.details_json)
    assert details["order_id"] == first.order_id
    assert details["total"] == INCIDENT_TOTAL_PAYOUT
    orders = [
        envelope
        for envelope in released.envelopes
        if envelope.payload_type == signed_payloads_pb2.ReleaseOrder.DESCRIPTOR.full_name
    ]
    assert len(orders) == 1, f"the RELEASED record carries {len(orders)} release orders, expected 1"
    assert verify_envelope(orders[0], bank.authorization_keys()), "the release order's signature does not verify"
    order = signed_payloads_pb2.ReleaseOrder.FromString(orders[0].payload)
    assert order.order_id == first.order_id
    assert order.authorization_id == authorization_id
    assert order.deposit_version == attested_version

    passbook_records = bank.audit_trail(passbook_number=passbook_number)
    releases_of_deposit = [
        entry
        for entry in decoded_entries(passbook_records)
        if entry.event_type == audit_pb2.AUDIT_EVENT_TYPE_RELEASED and entry.deposit_id == deposit_id
    ]
    assert len(releases_of_deposit) == 1
    return details


# --- Scenarios --------------------------------------------------------------


def test_setup_enrolls_staff_and_feeds_deposits(bank: BankClient, crew: Crew) -> None:
    """Scenario 1: the staff and the fed deposits are what the other scenarios rely on."""
    for replica in (0, 1):
        for member, role in (
            (crew.teller, staff_pb2.STAFF_ROLE_TELLER),
            (crew.supervisor, staff_pb2.STAFF_ROLE_SUPERVISOR),
        ):
            enrolled = bank.get_staff(member.staff_id, replica=replica)
            assert enrolled.role == role
            assert enrolled.active
            assert enrolled.branch_id == member.branch_id
            # The service derives the key id from the key, as key_id_of does.
            assert [key.key.key_id for key in enrolled.keys] == [member.key_id]
            assert enrolled.keys[0].key.public_key == member.public_key
    supervisor = bank.get_staff(crew.supervisor.staff_id)
    assert supervisor.approval_limit.amount == SUPERVISOR_APPROVAL_LIMIT
    progress("setup: both replicas list the teller and the supervisor with the keys generated here")

    business_date = bank.business_date()
    assert business_date.business_date == BUSINESS_DATE
    assert business_date.fixed
    assert bank.demand_rate_in_force(BUSINESS_DATE) == Decimal(DEMAND_RATE_PERCENT)

    incident = open_incident_passbook(bank, crew)
    view = bank.get_passbook(incident.passbook_number)
    assert view.business_date == BUSINESS_DATE
    assert view.passbook.status == resources_pb2.PASSBOOK_STATUS_ACTIVE
    by_id = {deposit.deposit_id: deposit for deposit in view.deposits}
    assert set(by_id) == {incident.unmatured.deposit_id, incident.matured.deposit_id}

    unmatured = by_id[incident.unmatured.deposit_id]
    assert unmatured.state == resources_pb2.DEPOSIT_STATE_UNMATURED
    assert unmatured.maturity_date == INCIDENT_MATURITY_DATE
    assert unmatured.balance.amount == INCIDENT_PRINCIPAL
    assert_incident_quote(unmatured.full_withdrawal_quote)

    matured = by_id[incident.matured.deposit_id]
    assert matured.state == resources_pb2.DEPOSIT_STATE_MATURED
    assert matured.full_withdrawal_quote.interest.amount == MATURED_INTEREST
    assert matured.full_withdrawal_quote.interest_loss.amount == "0.00"
    progress(f"setup: passbook {incident.passbook_number} shows one unmatured and one matured deposit")


def test_incident_replay(bank: BankClient, crew: Crew) -> None:
    """Scenario 2: the incident's early withdrawal is paid only after disclosure, acknowledgement and co-signature."""
    incident = open_incident_passbook(bank, crew)
    passbook_number = incident.passbook_number
    deposit_id = incident.unmatured.deposit_id

    assert_incident_quote(bank.quote_whole(deposit_id).quote)
    assert_incident_quote(bank.deposit(passbook_number, deposit_id).full_withdrawal_quote)
    progress(
        f"quote: {INCIDENT_INTEREST_NOW} now, {INCIDENT_INTEREST_AT_MATURITY} at maturity,"
        f" {INCIDENT_INTEREST_LOST} lost"
    )

    issued = bank.attest_whole(passbook_number, deposit_id)
    attested = issued.attestation_payload
    assert issued.attestation.payload_type == attested.DESCRIPTOR.full_name
    assert verify_envelope(
        issued.attestation, bank.deposit_status_keys()
    ), "the attestation's signature does not verify"
    assert type(attested).FromString(issued.attestation.payload) == attested
    assert attested.deposit_id == deposit_id
    assert attested.deposit_state == resources_pb2.DEPOSIT_STATE_UNMATURED
    assert attested.whole_deposit
    assert attested.open_deposits_in_passbook == 2
    assert_incident_quote(attested.quote)
    progress(f"attestation {attested.attestation_id} verifies with deposit-status's published key")

    authorization = bank.submit_whole(crew.teller, issued.attestation, attested)
    authorization_id = authorization.authorization_id
    assert authorization.state == authorization_pb2.AUTHORIZATION_STATE_PENDING
    assert authorization_pb2.SUPERVISOR_FLAG_UNMATURED in authorization.flags
    assert authorization_pb2.SUPERVISOR_FLAG_LARGE_AMOUNT in authorization.flags
    assert requirement_satisfied(authorization, authorization_pb2.REQUIREMENT_KIND_COSIGNATURE) is False
    assert requirement_satisfied(authorization, authorization_pb2.REQUIREMENT_KIND_DISCLOSURE_ACKNOWLEDGEMENT) is False
    assert requirement_satisfied(authorization, authorization_pb2.REQUIREMENT_KIND_IDENTITY_CHECK) is True
    assert_incident_quote(authorization.attestation.quote)
    progress(f"submitted authorization {authorization_id}: pending, flagged unmatured and large amount")

    zh = disclosure_text(authorization, "zh-CN")
    en = disclosure_text(authorization, "en")
    for text in (zh, en):
        assert text.sha256 == hashlib.sha256(text.text.encode("utf-8")).hexdigest()
    for line in (
        f"存折号：{passbook_number}",
        f"存款编号：{deposit_id}",
        "存款本金：80,000.00 元，存期 36 个月，年利率 3.00%",
        f"开户日：{INCIDENT_OPENED_ON}，到期日：{INCIDENT_MATURITY_DATE}",
        f"存款状态：未到期（营业日 {BUSINESS_DATE}）",
        f"本次支取本金：80,000.00 元，按提前支取办理，按支取日挂牌活期利率 0.10% 计息，计息天数 {INCIDENT_DAYS_HELD} 天",
        "本次支取可得利息：184.67 元",
        "如持有至到期可得利息：7,200.00 元",
        "提前支取损失利息：7,015.33 元",
    ):
        assert line in zh.text.splitlines(), f"the zh-CN disclosure lacks the line {line!r}:\n{zh.text}"
    for figure in ("184.67", "7,200.00", "7,015.33", INCIDENT_MATURITY_DATE, "0.10%"):
        assert figure in en.text, f"the en disclosure lacks {figure!r}:\n{en.text}"
    progress("disclosure (zh-CN):\n" + zh.text.rstrip())

    with pytest.raises(ServiceError) as rejected:
        bank.release(authorization_id)
    assert_rejected(
        rejected.value,
        "FAILED_PRECONDITION",
        "DISCLOSURE_NOT_ACKNOWLEDGED",
        ("/disclosure_acknowledgement", "/cosignature"),
    )
    progress(f"release before acknowledgement: rejected with {rejected.value.reason}")

    with pytest.raises(ServiceError) as rejected:
        bank.co_sign(crew.supervisor, [authorization])
    assert_rejected(rejected.value, "FAILED_PRECONDITION", "DISCLOSURE_NOT_ACKNOWLEDGED")
    progress(f"co-signature before acknowledgement: rejected with {rejected.value.reason}")

    acknowledged = bank.acknowledge(crew.teller, authorization)
    assert requirement_satisfied(acknowledged, authorization_pb2.REQUIREMENT_KIND_DISCLOSURE_ACKNOWLEDGEMENT) is True
    assert acknowledged.authorization_digest != authorization.authorization_digest
    assert acknowledged.state == authorization_pb2.AUTHORIZATION_STATE_PENDING
    progress("customer's acknowledgement recorded")

    with pytest.raises(ServiceError) as rejected:
        bank.release(authorization_id)
    assert_rejected(rejected.value, "FAILED_PRECONDITION", "COSIGNATURE_REQUIRED", ("/cosignature",))
    progress(f"release before co-signature: rejected with {rejected.value.reason}")

    with pytest.raises(ServiceError) as rejected:
        bank.co_sign(crew.supervisor, [authorization])
    assert_rejected(rejected.value, "FAILED_PRECONDITION", "AUTHORIZATION_DIGEST_MISMATCH")
    progress(f"co-signature over the digest before acknowledgement: rejected with {rejected.value.reason}")

    (cosigned,) = bank.co_sign(crew.supervisor, [acknowledged])
    assert cosigned.state == authorization_pb2.AUTHORIZATION_STATE_READY
    assert requirement_satisfied(cosigned, authorization_pb2.REQUIREMENT_KIND_COSIGNATURE) is True
    progress(f"co-signed by {crew.supervisor.staff_id}: ready")

    released = bank.release(authorization_id)
    assert released.authorization.state == authorization_pb2.AUTHORIZATION_STATE_RELEASED
    assert_incident_payout(released.payout, deposit_id)
    progress(
        f"released: principal {released.payout.principal.amount} + interest {released.payout.interest.amount}"
        f" = {released.payout.total.amount}"
    )

    again_1 = bank.release(authorization_id, replica=0)
    again_2 = bank.release(authorization_id, replica=1)
    progress("released twice more, on each replica: the same payout")

    assert_paid_once(
        bank,
        authorization_id,
        passbook_number,
        deposit_id,
        attested.deposit_version,
        [released.payout, again_1.payout, again_2.payout],
    )
    matured = bank.deposit(passbook_number, incident.matured.deposit_id)
    assert matured.state == resources_pb2.DEPOSIT_STATE_MATURED
    assert matured.balance.amount == MATURED_PRINCIPAL
    progress("paid exactly once: deposit withdrawn, one release in the audit trail, matured deposit untouched")


def ready_incident_authorization(bank: BankClient, crew: Crew) -> tuple[IncidentPassbook, int, str]:
    """Open an incident passbook and take its unmatured deposit to a READY authorization.

    Returns the passbook, the deposit's version before the release, and the authorization id.
    """
    incident = open_incident_passbook(bank, crew)
    deposit_id = incident.unmatured.deposit_id
    attested_version = bank.deposit(incident.passbook_number, deposit_id).version
    authorization = bank.authorize_whole(crew.teller, crew.supervisor, incident.passbook_number, deposit_id)
    progress(f"authorization {authorization.authorization_id} is ready")
    return incident, attested_version, authorization.authorization_id


def test_release_survives_replica_crash(bank: BankClient, crew: Crew, compose: stack.ComposeStack) -> None:
    """Scenario 3: a replica killed in the middle of a release leaves a deposit that is paid exactly once."""
    incident, attested_version, authorization_id = ready_incident_authorization(bank, crew)
    deposit_id = incident.unmatured.deposit_id

    request_id = new_request_id()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        compose.pause(stack.DEPOSIT_STATUS)
        progress("paused deposit-status")
        try:
            in_flight = executor.submit(bank.release, authorization_id, request_id, 0)
            time.sleep(1.0)
            assert not in_flight.done(), "the release finished while deposit-status was paused"
            during = bank.get_authorization(authorization_id, replica=1)
            assert during.state == authorization_pb2.AUTHORIZATION_STATE_RELEASING
            assert during.order_id
            progress(f"release in flight on replica 1: order {during.order_id} signed, authorization releasing")

            container_id, restarts = compose.crash(stack.AUTHORIZATION_1)
            progress(f"crashed withdrawal-authorization-1 (container {container_id[:12]}) with SIGKILL")
        finally:
            compose.unpause(stack.DEPOSIT_STATUS)
            progress("unpaused deposit-status")

        with pytest.raises(ServiceError) as interrupted:
            in_flight.result(timeout=60)
    # The replica died before it could respond, so the call fails without
    # ErrorInfo: at once when the connection is reset, or at its deadline
    # when no reset reaches the client.
    assert interrupted.value.code.name in (
        "UNAVAILABLE",
        "DEADLINE_EXCEEDED",
    ), f"the interrupted call failed with {interrupted.value}"
    assert interrupted.value.reason is None, f"the killed replica cannot have responded, got {interrupted.value}"
    progress(f"the interrupted call failed: {interrupted.value}")

    compose.wait_restarted(container_id, restarts)
    compose.wait_healthy(
        stack.AUTHORIZATION_1, bank.endpoints.authorization[0], WITHDRAWAL_AUTHORIZATION_SERVICE, HEALTH_TIMEOUT_SECONDS
    )
    progress("withdrawal-authorization-1 was restarted by its restart policy and is healthy")

    on_replica_2 = release_with_retries(bank, authorization_id, replica=1)
    progress(f"retried with a new request_id on replica 2: payout {on_replica_2.payout.total.amount}")
    on_replica_1 = release_with_retries(bank, authorization_id, replica=0, request_id=request_id)
    progress(f"retried with the interrupted call's request_id on replica 1: payout {on_replica_1.payout.total.amount}")

    details = assert_paid_once(
        bank,
        authorization_id,
        incident.passbook_number,
        deposit_id,
        attested_version,
        [on_replica_2.payout, on_replica_1.payout],
    )
    # True when deposit-status had already executed the order, for example the
    # request the killed replica sent before deposit-status was unpaused.
    replayed = details.get("replayed_by_deposit_status")
    progress(f"paid exactly once after the crash (order replayed by deposit-status: {replayed})")


def test_release_waits_out_deposit_status_outage(bank: BankClient, crew: Crew, compose: stack.ComposeStack) -> None:
    """Scenario 4: a release while deposit-status is down fails as retryable and completes once it is back."""
    incident, attested_version, authorization_id = ready_incident_authorization(bank, crew)
    deposit_id = incident.unmatured.deposit_id

    compose.stop(stack.DEPOSIT_STATUS)
    progress("stopped deposit-status")
    try:
        for replica in (0, 1):
            with pytest.raises(ServiceError) as unavailable:
                bank.release(authorization_id, replica=replica)
            error = unavailable.value
            assert_rejected(error, "UNAVAILABLE", "DEPOSIT_STATUS_UNAVAILABLE")
            assert error.retry_delay_seconds is not None and error.retry_delay_seconds > 0, f"no RetryInfo in {error}"
            progress(f"release on replica {replica + 1} while deposit-status is down: {error.code.name} {error.reason}")

        pending = bank.get_authorization(authorization_id)
        assert pending.state == authorization_pb2.AUTHORIZATION_STATE_RELEASING
        assert pending.last_error_reason == "DEPOSIT_STATUS_UNAVAILABLE"
        assert pending.order_id
    finally:
        compose.start(stack.DEPOSIT_STATUS)
        progress("started deposit-status")
    compose.wait_healthy(
        stack.DEPOSIT_STATUS, bank.endpoints.deposit_status, DEPOSIT_STATUS_SERVICE, HEALTH_TIMEOUT_SECONDS
    )
    progress("deposit-status is healthy")

    released = release_with_retries(bank, authorization_id, replica=0)
    progress(f"retried on replica 1: payout {released.payout.total.amount}")
    again = bank.release(authorization_id, replica=1)

    assert_paid_once(
        bank,
        authorization_id,
        incident.passbook_number,
        deposit_id,
        attested_version,
        [released.payout, again.payout],
    )
    records = bank.audit_trail(authorization_id=authorization_id)
    retried = [entry for entry in decoded_entries(records) if entry.event_type == audit_pb2.AUDIT_EVENT_TYPE_RETRIED]
    assert retried, "the audit trail records no retry"
    assert {entry.reason for entry in retried} == {"DEPOSIT_STATUS_UNAVAILABLE"}
    progress("paid exactly once after the outage, and the audit trail records the retry")
