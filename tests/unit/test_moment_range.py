"""The range of moments the hub takes in (`streams.domain.model.Millis`): from the Unix
epoch to 2100-01-01, both included. Input outside it is refused naming the field, at the
edges and far away (year 1 and 9999, with offsets that once overflowed); what the hub works
out from moments in range, and what it stored before the range existed, is still read."""

from __future__ import annotations

import json
import typing
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import BaseModel, ValidationError

from streams.adapters.native import InputError, parse_interaction
from streams.app import create_app
from streams.config import Settings
from streams.domain.campaign_policy import (
    CampaignPolicy,
    DoNotContactEntry,
    PolicyError,
    dnc_entry,
    dnc_entry_from_json,
    parse_dnc_csv,
)
from streams.domain.contact_facts import facts_from_state
from streams.domain.contact_holds import ContactRecheck, PolicyInputs, contact_check
from streams.domain.contact_rules import ContactFacts, Reason, ReasonCode, Rule
from streams.domain.customer import CustomerState
from streams.domain.decisions import ReplyRules, Suppression, process
from streams.domain.events import CampaignTarget, Complaint, Interaction, OfferResponse, Visit
from streams.domain.model import (
    EARLIEST_MOMENT,
    LATEST_MOMENT,
    Channel,
    Direction,
    OfferResponseKind,
    within_range,
)
from streams.processing.app import TouchlineApp
from streams.wire.serialization import AvroSerializer
from streams.wire.state_codec import decode_contact_facts, decode_state, encode_state
from tests.factories import CUSTOMER, PHONE, interaction, offer, target

MS = timedelta(milliseconds=1)
INSIDE = [
    "1970-01-01T00:00:00Z",
    "1970-01-01T01:00:00+01:00",  # the epoch, written in another zone
    "2026-11-23T10:00:00+03:00",
    "2100-01-01T00:00:00Z",
    "2099-12-31T19:00:00-05:00",  # 2100-01-01T00:00:00Z
]
OUTSIDE = [
    "1969-12-31T23:59:59.999Z",
    "2100-01-01T00:00:00.001Z",
    "1970-01-01T00:59:59.999+01:00",  # 1969-12-31T23:59:59.999Z
    "2099-12-31T19:00:00.001-05:00",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",  # its conversion to UTC overflowed (a 500 once)
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:00:00-05:00",  # likewise, past year 9999
]
BIG_POLICY = CampaignPolicy(
    campaign_id="camp",
    version=1,
    response_cooldown_days=36_600,
    accepted_cooldown_days=36_600,
    complaint_cooldown_days=36_600,
    frequency_caps=({"max_contacts": 1, "days": 3660},),  # type: ignore[arg-type]
)


def event_json(occurred_at: str, **more: Any) -> dict[str, Any]:
    return {
        "occurred_at": occurred_at,
        "channel": "SMS",
        "direction": "INBOUND",
        "customer": {"customer_id": CUSTOMER},
        "payload": {"type": "Message", "text": "hi"},
        **more,
    }


# -- the edges --------------------------------------------------------------------------


def test_the_range_is_the_epoch_to_2100_both_included() -> None:
    assert datetime(1970, 1, 1, tzinfo=UTC) == EARLIEST_MOMENT
    assert datetime(2100, 1, 1, tzinfo=UTC) == LATEST_MOMENT
    assert within_range(EARLIEST_MOMENT) is EARLIEST_MOMENT
    assert within_range(LATEST_MOMENT) is LATEST_MOMENT
    for outside in (EARLIEST_MOMENT - MS, LATEST_MOMENT + MS):
        with pytest.raises(ValueError, match="must be from 1970-01-01T00:00:00Z to 2100"):
            within_range(outside)


@pytest.mark.parametrize("moment", INSIDE)
def test_an_event_inside_the_range_is_taken_in_whole_milliseconds_utc(moment: str) -> None:
    event = parse_interaction(event_json(moment))
    assert event.occurred_at == datetime.fromisoformat(moment)
    assert event.occurred_at.tzinfo is UTC
    target_ = CampaignTarget.model_validate(
        {"campaign_id": "c", "customer_id": CUSTOMER, "uploaded_at": moment, "upload_id": "u"}
    )
    assert target_.uploaded_at == datetime.fromisoformat(moment)


@pytest.mark.parametrize("moment", OUTSIDE)
def test_an_event_outside_the_range_is_refused_naming_the_field(moment: str) -> None:
    with pytest.raises(InputError) as refused:
        parse_interaction(event_json(moment))
    assert refused.value.field == "occurred_at"
    assert refused.value.message == ("must be from 1970-01-01T00:00:00Z to 2100-01-01T00:00:00Z")
    with pytest.raises(InputError) as refused:
        parse_interaction(event_json("2026-11-23T10:00:00Z", received_at=moment))
    assert refused.value.field == "received_at"
    with pytest.raises(ValidationError, match="uploaded_at"):
        CampaignTarget.model_validate(
            {"campaign_id": "c", "customer_id": CUSTOMER, "uploaded_at": moment, "upload_id": "u"}
        )
    with pytest.raises(ValidationError, match="at"):
        Visit.model_validate({"location": "/loans", "at": moment})


def _datetime_fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> Iterator[str]:
    """`Model.field` of every datetime field of `model` and the models inside it."""
    if model in seen:
        return
    seen.add(model)
    for name, info in model.model_fields.items():
        annotation = repr(info.annotation)
        if "datetime" in annotation.lower():
            checked = any(
                getattr(m, "func", None) is within_range for m in _metadata(info.annotation)
            ) or any(getattr(m, "func", None) is within_range for m in info.metadata)
            yield f"{model.__name__}.{name}" + ("" if checked else " UNCHECKED")
        for inner in _models(info.annotation):
            yield from _datetime_fields(inner, seen)


def _metadata(annotation: Any) -> list[Any]:
    found = list(getattr(annotation, "__metadata__", ()))
    for arg in typing.get_args(annotation):
        found += _metadata(arg)
    return found


def _models(annotation: Any) -> list[type[BaseModel]]:
    found = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
    for arg in typing.get_args(annotation):
        found += _models(arg)
    return found


def test_every_moment_of_what_the_hub_takes_in_is_held_to_the_range() -> None:
    # What channel systems send: every datetime inside an event or a target. (A DNC
    # entry's expiry is held to it by `dnc_entry`, below.)
    seen: set[type[BaseModel]] = set()
    fields = [*_datetime_fields(Interaction, seen), *_datetime_fields(CampaignTarget, seen)]
    assert sorted(fields) == [
        "CampaignTarget.uploaded_at",
        "Interaction.occurred_at",
        "Interaction.received_at",
        "Visit.at",
    ]


# -- do-not-contact expiries ------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expires"),
    [
        ("1970-01-01T00:00:00Z", EARLIEST_MOMENT),
        ("2100-01-01T00:00:00Z", LATEST_MOMENT),
        ("2099-12-31", LATEST_MOMENT),  # a date: the entry holds through that day
        ("1969-12-31", EARLIEST_MOMENT),
    ],
)
def test_a_dnc_expiry_inside_the_range_is_taken(given: str, expires: datetime) -> None:
    entry = dnc_entry_from_json({"kind": "phone", "value": PHONE, "expires_at": given})
    assert entry.expires_at == expires


@pytest.mark.parametrize(
    "given",
    [
        "1969-12-31T23:59:59.999Z",
        "2100-01-01T00:00:00.001Z",
        "2100-01-01",  # holds through that day: until 2100-01-02
        "9999-12-31",  # the day after it overflowed (a 500 once)
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00+01:00",
    ],
)
def test_a_dnc_expiry_outside_the_range_is_refused_naming_the_field(given: str) -> None:
    with pytest.raises(PolicyError) as refused:
        dnc_entry_from_json({"kind": "phone", "value": PHONE, "expires_at": given})
    assert refused.value.field == "expires_at"
    assert "2100-01-01T00:00:00Z" in refused.value.message
    assert "never expires" in refused.value.message
    with pytest.raises(PolicyError, match="expires_at"):
        dnc_entry("phone", PHONE, expires_at=datetime(9999, 12, 31, tzinfo=UTC))


def test_a_dnc_csv_row_outside_the_range_is_rejected_by_its_line() -> None:
    imported = parse_dnc_csv(
        f"phone,expires_at\n{PHONE},9999-12-31\n+905321234568,2099-12-31\n+905321234569,\n"
    )
    assert [e.value for e in imported.entries] == ["+905321234568", "+905321234569"]
    ((rejected),) = imported.rejected
    assert rejected.line == 2
    assert rejected.reason.startswith("expires_at: must be from 1970-01-01T00:00:00Z")


def test_a_dnc_entry_stored_before_the_range_is_still_read() -> None:
    # The DNC topic is read again at every start; an entry written before the range
    # existed must still hold (dropping it would make its number contactable).
    avro = AvroSerializer()
    forever = DoNotContactEntry(
        kind="phone", value=PHONE, expires_at=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    )
    read = avro.decode_model(avro.encode_model(forever))
    assert read == forever
    assert isinstance(read, DoNotContactEntry) and read.active(datetime.now(UTC))


# -- what the hub works out and keeps ---------------------------------------------------


@pytest.mark.parametrize("at", [EARLIEST_MOMENT, LATEST_MOMENT])
def test_the_hub_works_out_every_later_moment_from_the_edges(at: datetime) -> None:
    # The longest cooldowns and caps a policy allows, from a moment at either edge: the
    # moments worked out (up to about 2200) neither overflow nor are refused.
    dnc = dnc_entry("phone", PHONE, expires_at=at)
    inputs = PolicyInputs(policy_for=lambda _: BIG_POLICY, dnc_for=lambda _: [dnc])
    avro = AvroSerializer()
    state = CustomerState(customer_id=CUSTOMER)
    facts: list[Interaction | CampaignTarget] = [
        target("camp", "u1", at=at),
        offer("e1", "camp", at=at, channel=Channel.VOICE),
        interaction(
            "e2", OfferResponse(campaign_id="camp", response=OfferResponseKind.DECLINED), at=at
        ),
        interaction("e3", Complaint(category="fees", severity="high"), at=at),
    ]
    for fact in facts:
        assert avro.decode_model(avro.encode_model(fact)) == fact
        outcome = process(state, fact, ReplyRules(), at, inputs)
        state = outcome.state
        for made in outcome.decisions:
            if isinstance(made, Suppression):
                assert avro.decode_model(avro.encode_model(made)) == made
    decision = contact_check(facts_from_state(state), CUSTOMER, "camp", Channel.VOICE, inputs, at)
    assert not decision.allowed
    latest = max(r.until for r in decision.reasons if r.until is not None)
    assert latest > at + timedelta(days=36_000)  # past 2100 for a moment at its end
    assert state.wake_at is not None
    recheck = ContactRecheck(customer_id=CUSTOMER, at=state.wake_at, reason="wake-up")
    assert avro.decode_model(avro.encode_model(recheck)) == recheck
    assert decode_state(encode_state(state), avro) == state


def test_a_moment_the_hub_works_out_is_not_held_to_the_range() -> None:
    later = datetime(2200, 3, 18, tzinfo=UTC)
    reason = Reason(
        rule=Rule.COMPLAINT_COOLDOWN, code=ReasonCode.COMPLAINT, detail="x", until=later
    )
    assert reason.until == later
    assert ContactRecheck(customer_id=CUSTOMER, at=later, reason="wake-up").at == later


def test_a_state_stored_before_the_range_is_still_read() -> None:
    # State folded from events of year 1, as the hub accepted them before the range
    # existed (such events can no longer be made: they are put together unchecked here).
    year_one = datetime(1, 1, 1, tzinfo=UTC)
    state = CustomerState(customer_id=CUSTOMER)
    for fact in (
        interaction("old-1", Complaint(category="fees", severity="high")),
        interaction(
            "old-2",
            OfferResponse(campaign_id="camp", response=OfferResponseKind.ACCEPTED),
            direction=Direction.INBOUND,
        ),
    ):
        old = fact.model_copy(update={"occurred_at": year_one})
        state = process(state, old, ReplyRules(), datetime.now(UTC)).state
    assert state.last_complaint_at == year_one
    avro = AvroSerializer()
    stored = encode_state(state)
    assert decode_state(stored, avro) == state
    facts = decode_contact_facts(stored, avro)
    assert facts == facts_from_state(state)
    assert facts.last_complaint_at == year_one
    assert ContactFacts.model_validate_json(facts.model_dump_json()) == facts


# -- over HTTP --------------------------------------------------------------------------


class Published:
    """Stands in for the adapter producer: what the views published."""

    def __init__(self) -> None:
        self.records: list[Any] = []
        self.serializer = AvroSerializer()

    async def get(self) -> Published:
        return self

    async def publish(self, batch: list[Any]) -> None:
        self.records.extend(batch)


@pytest.fixture
def app(tmp_path: Path) -> TouchlineApp:
    return create_app(
        Settings.from_env(
            {
                "TOUCHLINE_STORE": "memory://",
                "TOUCHLINE_BROKER": "127.0.0.1:9",
                "TOUCHLINE_DATA_DIR": str(tmp_path),
            }
        )
    )


@pytest.fixture
def published(app: TouchlineApp, monkeypatch: pytest.MonkeyPatch) -> Published:
    fake = Published()
    monkeypatch.setattr(app.web_parts, "producer", fake)
    return fake


@pytest.fixture
async def client(app: TouchlineApp) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(app.web.web_app)) as client:  # type: ignore[attr-defined]
        yield client


async def test_an_interaction_outside_the_range_gets_422_naming_the_field(
    client: TestClient[Any, Any], published: Published
) -> None:
    for moment in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2100-01-01T00:00:00.001Z"):
        response = await client.post("/v1/interactions", json=event_json(moment))
        assert response.status == 422
        body = await response.json()
        assert body["field"] == "occurred_at"
        assert "1970-01-01T00:00:00Z to 2100-01-01T00:00:00Z" in body["error"]
    response = await client.post(
        "/v1/interactions",
        json=[event_json("2026-11-23T10:00:00Z"), event_json("9999-12-31T23:59:59Z")],
    )
    assert response.status == 422
    assert (await response.json())["field"] == "[1].occurred_at"
    assert published.records == []  # a request is taken whole or not at all

    response = await client.post("/v1/interactions", json=event_json("2100-01-01T00:00:00Z"))
    assert response.status == 202, await response.text()
    assert len(published.records) == 1


async def test_a_dnc_expiry_outside_the_range_gets_422_naming_the_field(
    client: TestClient[Any, Any], published: Published
) -> None:
    entries = [
        {"kind": "phone", "value": PHONE},
        {"kind": "email", "value": "a@example.com", "expires_at": "9999-12-31T23:59:59Z"},
    ]
    response = await client.post("/v1/dnc", json=entries)
    assert response.status == 422
    body = await response.json()
    assert body["field"] == "[1].expires_at"
    assert "never expires" in body["error"]
    assert published.records == []
    response = await client.post(
        "/v1/dnc", data=f"phone,expires_at\n{PHONE},9999-12-31\n", headers=CSV
    )
    assert response.status == 202
    assert json.loads(await response.text()) == {
        "accepted": 0,
        "rejected": [
            {
                "line": 2,
                "reason": "expires_at: must be from 1970-01-01T00:00:00Z to "
                "2100-01-01T00:00:00Z (leave it out: the entry never expires)",
            }
        ],
    }


CSV = {"Content-Type": "text/csv"}
