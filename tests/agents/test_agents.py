"""Tests for the Faust agents, in the style of Faust's testing guide: each agent runs in
`agent.test_context()` on the in-memory store, events go in with `put`, and what leaves
the agent is recorded by one mock per outgoing path (`producer.send` for records,
`producer.send_soon` for table changelogs)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from unittest.mock import AsyncMock, Mock

import pytest
from faust.exceptions import ProducerSendError

from streams.domain.customer import CustomerState
from streams.domain.decisions import POLICY_SMS_REPLY, DialListEntry, Suppression, suppression_id
from streams.domain.events import (
    Message,
    OptOut,
)
from streams.domain.links import IdentityLink, anonymous_customer_id
from streams.domain.model import Channel, OfferResponseKind, SuppressionReason
from streams.domain.resolution import MergeStep, ProfileMerge
from streams.processing.outbox import Undeliverable
from streams.wire import topics
from streams.wire.serialization import DeadLetter
from streams.wire.state_codec import STATE_MARKER, decode_state
from tests.agents.app_under_test import agents, app
from tests.factories import CUSTOMER, PHONE, T0, interaction, offer, target

customers = app.customers
identities = app.identities
serializer = app.serializer

OTHER_PHONE = "+905559998877"
NOW = datetime(2026, 11, 23, 10, 30, 0, 250_123, tzinfo=UTC)


# -- builders ---------------------------------------------------------------------------


def avro(model: Any) -> bytes:
    return serializer.encode_model(model)


# -- running the agents -------------------------------------------------------------------


class Sent(NamedTuple):
    """One call of `producer.send`, as the agents make it."""

    topic: str
    key: bytes
    value: bytes | None
    partition: int | None
    timestamp: float | None
    headers: Any


async def _delivered() -> None:
    return None


class SentRecords:
    """The mock standing in for `app.producer.send`, with its calls as `Sent` tuples.
    Each send answers with its delivery, already done, as the producer's future would."""

    def __init__(self) -> None:
        self.mock = AsyncMock(name="producer.send", side_effect=lambda *a, **k: _delivered())

    @property
    def calls(self) -> list[Sent]:
        return [Sent(*call.args, **call.kwargs) for call in self.mock.call_args_list]

    def to(self, topic: str) -> list[Sent]:
        return [call for call in self.calls if call.topic == topic]

    def clear(self) -> None:
        self.mock.reset_mock()


@pytest.fixture(autouse=True)
def sent(test_app: Any, monkeypatch: pytest.MonkeyPatch) -> SentRecords:
    """Every record the agents send (`app.producer.send`), instead of Kafka."""
    records = SentRecords()
    monkeypatch.setattr(test_app.producer, "send", records.mock)
    return records


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agents, "clock", lambda: NOW)


@pytest.fixture(autouse=True)
def changelog(test_app: Any, monkeypatch: pytest.MonkeyPatch) -> Mock:
    """Table changelog writes (`table[key] = value` → `producer.send_soon`)."""
    mock = Mock(name="producer.send_soon")
    monkeypatch.setattr(test_app.producer, "send_soon", mock)
    return mock


@asynccontextmanager
async def running(agent: Any, source_topic: str) -> AsyncIterator[Any]:
    """The agent under `test_context()`, its messages naming `source_topic` (partition 0).

    `test_context` names messages after the agent's original channel, which for the
    customer agent is a two-topic channel without a single name ("<internal>"); the tests
    say which real topic each record is meant to have come from."""
    async with agent.test_context() as tested:
        tested.original_channel = agents.app.topic(source_topic)
        yield tested


async def put_on_owner(tested: Any, value: bytes | None, key: bytes | None) -> None:
    """Put a record on the partition that owns its key, as a murmur2 producer would."""
    partition = agents.owner_partition(key) if key else 0
    await tested.put(value, key=key, partition=partition, timestamp=NOW.timestamp())


async def deliver(tested: Any, value: bytes | None, key: bytes | None) -> None:
    """Put one record and let the agent body run to its next `async for` step.

    `put(wait=True)` returns when the stream has handed the value on; a few loop turns
    cover any await inside the body that actually suspends."""
    await put_on_owner(tested, value, key)
    for _ in range(10):
        await asyncio.sleep(0)
    # Table writes wait until what the event caused is delivered (streams.processing.outbox).
    await agents.outbox.settle()
    assert tested._crash_reason is None


def decoded(record: Sent) -> Any:
    assert record.value is not None
    return serializer.decode_model(record.value)


def state_of(customer_id: str) -> CustomerState:
    state = customers.get(customer_id)
    assert isinstance(state, CustomerState), f"no state for {customer_id}"
    return state


def identity_of(identity: str) -> str | None:
    value = identities.get(identity)
    return value.decode() if isinstance(value, bytes) else value


# -- customer agent: applying facts --------------------------------------------------------


class TestCustomerAgentApplies:
    async def test_sms_yes_suppresses_and_removes_from_the_dial_list(
        self, sent: SentRecords, changelog: Mock
    ) -> None:
        reply = interaction("sms-yes", Message(text=" evet "), at=T0 + timedelta(minutes=5))
        async with running(agents.customer_agent, topics.INTERACTIONS) as agent:
            await deliver(agent, avro(target("A", "upload-a", priority=3)), CUSTOMER.encode())
            await deliver(agent, avro(target("B", "upload-b")), CUSTOMER.encode())

            listed = sent.to(topics.DIAL_LIST)
            assert [(r.key, decoded(r).campaign_id) for r in listed] == [
                (b"A:c-42", "A"),
                (b"B:c-42", "B"),
            ]
            assert decoded(listed[0]) == DialListEntry(
                campaign_id="A",
                customer_id=CUSTOMER,
                phone=PHONE,
                priority=3,
                added_at=T0,
                source_id="upload-a",
            )

            await deliver(agent, avro(offer("offer-a", "A")), CUSTOMER.encode())
            sent.clear()
            await deliver(agent, avro(reply), CUSTOMER.encode())

        (suppression,) = sent.to(topics.SUPPRESSIONS)
        expected_id = suppression_id("sms-yes", "A", SuppressionReason.OFFER_ACCEPTED)
        assert suppression.key == b"A:c-42"
        assert decoded(suppression) == Suppression(
            suppression_id=expected_id,
            campaign_id="A",
            customer_id=CUSTOMER,
            reason=SuppressionReason.OFFER_ACCEPTED,
            channels=(),
            source_event_id="sms-yes",
            source_channel=Channel.SMS,
            policy=POLICY_SMS_REPLY,
            occurred_at=reply.occurred_at,
            decided_at=NOW.replace(microsecond=250_000),
        )
        headers = dict(suppression.headers)
        assert headers["ce_specversion"] == b"1.0"
        assert headers["ce_id"] == expected_id.encode()
        assert headers["ce_type"] == b"touchline.suppression"
        assert headers["ce_subject"] == CUSTOMER.encode()

        (removal,) = sent.to(topics.DIAL_LIST)
        assert removal.key == b"A:c-42"
        assert removal.value is None  # a tombstone on the compacted topic
        assert dict(removal.headers)["ce_type"] == b"touchline.dial-list.removal"
        # The suppression is on the wire before the tombstone.
        assert [r.topic for r in sent.calls] == [topics.SUPPRESSIONS, topics.DIAL_LIST]

        state = state_of(CUSTOMER)
        assert set(state.dial_list_campaigns()) == {"B"}
        (answered,) = state.offers
        assert answered.response is OfferResponseKind.ACCEPTED
        assert answered.response_event_id == "sms-yes"
        assert state.is_suppressed("A", Channel.VOICE)

        # The new state was assigned back, so the table logged it to its changelog, as the
        # raw customer id and the state in the table's format (`streams.wire.state_codec`).
        logged = changelog.call_args_list[-1].args[0].message
        assert logged.channel is customers.changelog_topic
        assert logged.key == CUSTOMER.encode()
        assert logged.value[:4] == STATE_MARKER
        assert decode_state(logged.value, serializer) == state
        assert logged.partition == agents.owner_partition(CUSTOMER.encode())

    async def test_first_sight_of_an_identity_publishes_a_link(self, sent: SentRecords) -> None:
        first = interaction("e1", Message(text="hi"), email="ayse@example.com")
        second = interaction("e2", Message(text="again"), at=T0 + timedelta(minutes=1))
        async with running(agents.customer_agent, topics.INTERACTIONS) as agent:
            await deliver(agent, avro(first), CUSTOMER.encode())
            links = sent.to(agents.topics.identity)
            await deliver(agent, avro(second), CUSTOMER.encode())

        assert sorted(r.key for r in links) == [
            b"email:ayse@example.com",
            b"phone:" + PHONE.encode(),
        ]
        for record in links:
            link = decoded(record)
            assert isinstance(link, IdentityLink)
            assert link.customer_id == CUSTOMER
            assert link.source_event_id == "e1"
            assert link.identity == record.key.decode()
        # Already known: the second event links nothing new.
        assert len(sent.to(agents.topics.identity)) == 2
        assert state_of(CUSTOMER).events_applied == 2

    async def test_a_duplicate_event_decides_nothing_and_stores_its_state_again(
        self, sent: SentRecords, changelog: Mock
    ) -> None:
        """A duplicate is only seen once its decisions were delivered (streams.processing.outbox):
        it publishes nothing. Its state goes to the changelog once more, unchanged, in
        case a crash lost the record that stored it."""
        stop = avro(interaction("stop", Message(text="STOP")))
        async with running(agents.customer_agent, topics.INTERACTIONS) as agent:
            await deliver(agent, avro(target("A", "u")), CUSTOMER.encode())
            await deliver(agent, stop, CUSTOMER.encode())
            assert len(sent.to(topics.SUPPRESSIONS)) == 1
            before, writes = state_of(CUSTOMER), changelog.call_count
            sent.clear()
            await deliver(agent, stop, CUSTOMER.encode())

        assert sent.calls == []
        assert changelog.call_count == writes + 1
        assert (
            decode_state(changelog.call_args_list[-1].args[0].message.value, serializer) == before
        )
        assert state_of(CUSTOMER) == before

    async def test_opt_out_of_voice_tombstones_every_listed_campaign(
        self, sent: SentRecords
    ) -> None:
        opt_out = interaction("opt", OptOut(channels=[Channel.VOICE]), channel=Channel.VOICE)
        async with running(
            agents.customer_commands_agent, agents.topics.customer_commands
        ) as agent:
            await deliver(agent, avro(target("A", "u1")), CUSTOMER.encode())
            await deliver(agent, avro(target("B", "u2")), CUSTOMER.encode())
            sent.clear()
            await deliver(agent, avro(opt_out), CUSTOMER.encode())

        suppressed = {decoded(r).campaign_id: r.key for r in sent.to(topics.SUPPRESSIONS)}
        assert suppressed == {"A": b"A:c-42", "B": b"B:c-42"}
        tombstones = sent.to(topics.DIAL_LIST)
        assert sorted(r.key for r in tombstones) == [b"A:c-42", b"B:c-42"]
        assert all(r.value is None for r in tombstones)

    async def test_customers_are_kept_apart(self, sent: SentRecords) -> None:
        other = interaction("o1", Message(text="hello"), customer_id="c-7", phone=OTHER_PHONE)
        async with running(agents.customer_agent, topics.INTERACTIONS) as agent:
            await deliver(agent, avro(interaction("e1", Message(text="hi"))), CUSTOMER.encode())
            await deliver(agent, avro(other), b"c-7")

        assert state_of(CUSTOMER).phones == (PHONE,)
        assert state_of("c-7").phones == (OTHER_PHONE,)


# -- customer agent: routing -------------------------------------------------------------


class TestCustomerAgentRoutes:
    async def test_interaction_keyed_otherwise_moves_to_its_customer(
        self, sent: SentRecords, changelog: Mock
    ) -> None:
        value = avro(interaction("e1", Message(text="YES")))
        async with running(agents.customer_agent, topics.INTERACTIONS) as agent:
            await deliver(agent, value, b"phone:" + PHONE.encode())

        assert sent.calls == [
            Sent(
                agents.topics.customer_commands,
                CUSTOMER.encode(),
                value,
                None,
                NOW.timestamp(),
                None,
            )
        ]
        assert customers.get(CUSTOMER) is None  # applied only once it arrives re-keyed
        assert changelog.call_count == 0

    async def test_target_keyed_by_campaign_moves_to_its_customer(self, sent: SentRecords) -> None:
        value = avro(target("A", "u"))
        async with running(agents.customer_agent, topics.INTERACTIONS) as agent:
            await deliver(agent, value, b"A:c-42")

        assert sent.calls == [
            Sent(
                agents.topics.customer_commands,
                CUSTOMER.encode(),
                value,
                None,
                NOW.timestamp(),
                None,
            )
        ]
        assert customers.get(CUSTOMER) is None

    @pytest.mark.parametrize(
        ("phone", "email", "identity"),
        [
            (PHONE, None, f"phone:{PHONE}"),
            (PHONE, "a@example.com", f"phone:{PHONE}"),
            (None, "a@example.com", "email:a@example.com"),
        ],
    )
    async def test_interaction_without_customer_id_goes_to_identity_resolution(
        self, sent: SentRecords, phone: str | None, email: str | None, identity: str
    ) -> None:
        value = avro(
            interaction("anon", Message(text="YES"), customer_id=None, phone=phone, email=email)
        )
        async with running(agents.customer_agent, topics.INTERACTIONS) as agent:
            await deliver(agent, value, identity.encode())

        assert sent.calls == [
            Sent(agents.topics.identity, identity.encode(), value, None, NOW.timestamp(), None)
        ]
        assert len(customers) == 0


# -- customer agent: dead letters ------------------------------------------------------------


class TestCustomerAgentDeadLetters:
    async def test_garbage_is_dead_lettered_and_the_agent_goes_on(self, sent: SentRecords) -> None:
        garbage = b"\x7b\x22not\x22: avro}"
        async with running(agents.customer_agent, topics.INTERACTIONS) as agent:
            await deliver(agent, avro(interaction("e1", Message(text="hi"))), CUSTOMER.encode())
            sent.clear()
            await deliver(agent, garbage, b"some-key")
            (letter_record,) = sent.calls
            await deliver(
                agent,
                avro(interaction("e2", Message(text="still here"), at=T0 + timedelta(hours=1))),
                CUSTOMER.encode(),
            )

        assert letter_record.topic == topics.INTERACTIONS_DLQ == "touchline.interactions.dlq.v1"
        assert letter_record.key == b"some-key"
        letter = decoded(letter_record)
        assert isinstance(letter, DeadLetter)
        assert letter.topic == topics.INTERACTIONS
        assert letter.partition == agents.owner_partition(b"some-key")
        assert letter.offset == 1  # the second record put
        assert letter.key == b"some-key"
        assert letter.value == garbage
        assert letter.error_type == "SerializationError"
        assert "not Avro" in letter.error
        assert dict(letter_record.headers)["ce_type"] == b"touchline.dead-letter"
        # The next event was processed normally.
        assert state_of(CUSTOMER).has_seen("e1") and state_of(CUSTOMER).has_seen("e2")
        assert state_of(CUSTOMER).events_applied == 2

    @pytest.mark.parametrize(
        ("value", "error"),
        [
            (b"", "empty value"),
            (b"\xc3\x01" + b"\x00" * 8 + b"\x02", "fingerprint"),
            (avro(target("A", "u"))[:-3], "cannot decode"),
            (avro(IdentityLink(identity="x", customer_id="y", source_event_id="z")), "belong"),
            (
                avro(interaction("e", Message(text="x"), customer_id=None, phone=None)),
                "no customer id and no identity",
            ),
        ],
        ids=["empty", "unknown-schema", "truncated", "wrong-record", "nobody"],
    )
    async def test_unprocessable_records_are_dead_lettered(
        self, sent: SentRecords, value: bytes, error: str
    ) -> None:
        async with running(agents.customer_agent, topics.INTERACTIONS) as agent:
            await deliver(agent, value, b"k")

        (record,) = sent.calls
        assert record.topic == topics.INTERACTIONS_DLQ
        letter = decoded(record)
        assert isinstance(letter, DeadLetter)
        assert error in letter.error
        assert letter.value == value
        assert len(customers) == 0

    async def test_a_failed_decision_send_stops_the_worker_and_is_decided_again(
        self, sent: SentRecords, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A producer error is no dead letter: the worker stops with nothing stored, so the
        event comes again after the restart and its decision is published then."""
        stops: list[str] = []
        monkeypatch.setattr(agents.outbox, "_on_undeliverable", stops.append)
        published: list[Sent] = []

        async def refused_send(*args: Any) -> Any:
            record = Sent(*args)
            if record.topic == topics.SUPPRESSIONS:
                raise ProducerSendError("KafkaTimeoutError: metadata not available")
            published.append(record)
            return _delivered()

        stop = avro(interaction("stop", Message(text="STOP")))
        with pytest.raises(Undeliverable):
            async with running(agents.customer_agent, topics.INTERACTIONS) as agent:
                await deliver(agent, avro(target("A", "u")), CUSTOMER.encode())
                sent.mock.side_effect = refused_send
                await put_on_owner(agent, stop, CUSTOMER.encode())
                for _ in range(10):
                    await asyncio.sleep(0)
        assert stops and "touchline.suppressions.v1" in stops[0]
        assert not [r for r in published if r.topic == topics.INTERACTIONS_DLQ]
        assert not state_of(CUSTOMER).has_seen("stop"), "nothing stored before delivery"
        agents.outbox.drop()  # the process is gone: so is everything it had not settled

        sent.clear()
        sent.mock.side_effect = lambda *a, **k: _delivered()
        async with running(agents.customer_agent, topics.INTERACTIONS) as agent:
            await deliver(agent, stop, CUSTOMER.encode())  # redelivered after the restart
        (suppression,) = sent.to(topics.SUPPRESSIONS)
        assert suppression.key == b"A:c-42"
        assert state_of(CUSTOMER).has_seen("stop")

    async def test_state_waits_for_the_delivery_of_its_decisions(
        self, sent: SentRecords, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Until the suppression is delivered, the state that records the reply is not
        stored (a crash then loses nothing), while the agent already reads its own write."""
        loop = asyncio.get_running_loop()
        deliveries: list[asyncio.Future[None]] = []

        def slow_delivery(*args: Any) -> Any:
            future = loop.create_future()
            if Sent(*args).topic == topics.SUPPRESSIONS:
                deliveries.append(future)
            else:
                future.set_result(None)
            return future

        stop = avro(interaction("stop", Message(text="STOP")))
        async with running(agents.customer_agent, topics.INTERACTIONS) as agent:
            await deliver(agent, avro(target("A", "u")), CUSTOMER.encode())
            sent.mock.side_effect = slow_delivery
            await put_on_owner(agent, stop, CUSTOMER.encode())
            for _ in range(10):
                await asyncio.sleep(0)
            await asyncio.sleep(0.05)  # past the linger: a settle waits for the delivery
            assert deliveries
            assert not state_of(CUSTOMER).has_seen("stop")
            assert agents.state_cache.get(CUSTOMER).has_seen("stop")  # type: ignore[union-attr]
            deliveries[0].set_result(None)
            await agents.outbox.settle()
            assert state_of(CUSTOMER).has_seen("stop")


# -- identity agent ---------------------------------------------------------------------


class TestIdentityAgent:
    async def test_link_then_resolve(self, sent: SentRecords, changelog: Mock) -> None:
        identity = f"phone:{PHONE}"
        link = IdentityLink(identity=identity, customer_id=CUSTOMER, source_event_id="e0")
        anonymous = interaction(
            "from-phone", Message(text="EVET"), customer_id=None, at=T0 + timedelta(minutes=3)
        )
        async with running(agents.identity_agent, agents.topics.identity) as agent:
            await deliver(agent, avro(link), identity.encode())
            assert identity_of(identity) == CUSTOMER
            assert sent.calls == []
            await deliver(agent, avro(anonymous), identity.encode())

        (forwarded,) = sent.calls
        assert forwarded.topic == agents.topics.customer_commands
        assert forwarded.key == CUSTOMER.encode()
        resolved = decoded(forwarded)
        assert resolved.customer.customer_id == CUSTOMER
        assert resolved.customer.phone == PHONE
        assert resolved == anonymous.model_copy(
            update={"customer": anonymous.customer.model_copy(update={"customer_id": CUSTOMER})}
        )
        logged = changelog.call_args_list[0].args[0].message
        assert logged.channel is identities.changelog_topic
        assert (logged.key, logged.value) == (identity.encode(), CUSTOMER.encode())

    async def test_a_link_to_another_profile_asks_for_a_merge(self, sent: SentRecords) -> None:
        identity = f"phone:{PHONE}"
        async with running(agents.identity_agent, agents.topics.identity) as agent:
            for customer_id in ("c-first", CUSTOMER):
                link = IdentityLink(identity=identity, customer_id=customer_id, source_event_id="e")
                await deliver(agent, avro(link), identity.encode())
        # The profile that had the number first keeps it, and absorbs the other.
        assert identity_of(identity) == "c-first"
        (request,) = sent.calls
        assert (request.topic, request.key) == (agents.topics.customer_commands, CUSTOMER.encode())
        merge = decoded(request)
        assert isinstance(merge, ProfileMerge)
        assert (merge.survivor_id, merge.absorbed_id, merge.step) == (
            "c-first",
            CUSTOMER,
            MergeStep.REQUESTED,
        )

    async def test_links_of_a_merge_move_the_identity(self, sent: SentRecords) -> None:
        identity = f"phone:{PHONE}"
        async with running(agents.identity_agent, agents.topics.identity) as agent:
            for customer_id, merge_id in (("c-first", None), (CUSTOMER, "m-1")):
                link = IdentityLink(
                    identity=identity,
                    customer_id=customer_id,
                    source_event_id="e",
                    merge_id=merge_id,
                )
                await deliver(agent, avro(link), identity.encode())
        assert identity_of(identity) == CUSTOMER
        assert sent.calls == []

    async def test_unknown_identity_gets_a_stable_anonymous_id(self, sent: SentRecords) -> None:
        identity = f"phone:{OTHER_PHONE}"
        first = interaction("a1", Message(text="hi"), customer_id=None, phone=OTHER_PHONE)
        second = interaction("a2", Message(text="hi"), customer_id=None, phone=OTHER_PHONE)
        async with running(agents.identity_agent, agents.topics.identity) as agent:
            await deliver(agent, avro(first), identity.encode())
            await deliver(agent, avro(second), identity.encode())

        anonymous_id = anonymous_customer_id(identity)
        assert anonymous_id.startswith("anon-")
        assert OTHER_PHONE not in anonymous_id and OTHER_PHONE[1:] not in anonymous_id
        assert identity_of(identity) == anonymous_id
        assert [(r.topic, r.key) for r in sent.calls] == [
            (agents.topics.customer_commands, anonymous_id.encode()),
            (agents.topics.customer_commands, anonymous_id.encode()),
        ]
        assert [decoded(r).customer.customer_id for r in sent.calls] == [anonymous_id] * 2

    @pytest.mark.parametrize(
        "value",
        [b"junk", avro(target("A", "u"))],
        ids=["garbage", "wrong-record"],
    )
    async def test_unprocessable_records_are_dead_lettered(
        self, sent: SentRecords, value: bytes
    ) -> None:
        identity = f"phone:{PHONE}".encode()
        link = IdentityLink(identity=identity.decode(), customer_id=CUSTOMER, source_event_id="e")
        async with running(agents.identity_agent, agents.topics.identity) as agent:
            await deliver(agent, value, identity)
            await deliver(agent, avro(link), identity)

        (record,) = sent.calls
        assert record.topic == topics.INTERACTIONS_DLQ
        letter = decoded(record)
        assert letter.topic == agents.topics.identity
        assert letter.value == value
        assert identity_of(identity.decode()) == CUSTOMER  # and it goes on


# -- targets agent ---------------------------------------------------------------------------


class TestTargetsAgent:
    async def test_target_is_rekeyed_to_its_customer(self, sent: SentRecords) -> None:
        value = avro(target("A", "u"))
        async with running(agents.targets_agent, topics.CAMPAIGN_TARGETS) as agent:
            await deliver(agent, value, b"A:c-42")

        assert sent.calls == [
            Sent(
                agents.topics.customer_commands,
                CUSTOMER.encode(),
                value,
                None,
                NOW.timestamp(),
                None,
            )
        ]

    async def test_anything_else_is_dead_lettered(self, sent: SentRecords) -> None:
        value = avro(interaction("e1", Message(text="hi")))
        async with running(agents.targets_agent, topics.CAMPAIGN_TARGETS) as agent:
            await deliver(agent, value, b"A:c-42")

        (record,) = sent.calls
        assert record.topic == topics.INTERACTIONS_DLQ
        letter = decoded(record)
        assert letter.topic == topics.CAMPAIGN_TARGETS
        assert "not a CampaignTarget" in letter.error


# -- the agents together ---------------------------------------------------------------------


class TestPipeline:
    async def test_reply_from_a_phone_reaches_the_customer_it_belongs_to(
        self, sent: SentRecords
    ) -> None:
        """Target upload → offer → a Twilio-style reply that knows only the phone: the reply
        is resolved through the link the customer agent published, and suppresses."""

        def handoff(topic: str) -> list[Sent]:
            records = sent.to(topic)
            sent.clear()
            return records

        reply = interaction(
            "twilio-SM1", Message(text="Evet"), customer_id=None, at=T0 + timedelta(minutes=2)
        )
        async with running(agents.targets_agent, topics.CAMPAIGN_TARGETS) as agent:
            await deliver(agent, avro(target("A", "u")), b"A:c-42")
        commands = handoff(agents.topics.customer_commands)

        async with running(
            agents.customer_commands_agent, agents.topics.customer_commands
        ) as agent:
            for record in commands:
                await deliver(agent, record.value, record.key)
            await deliver(agent, avro(offer("offer-a", "A")), CUSTOMER.encode())
        links = handoff(agents.topics.identity)
        assert [r.key for r in links] == [f"phone:{PHONE}".encode()]

        async with running(agents.identity_agent, agents.topics.identity) as agent:
            for record in links:
                await deliver(agent, record.value, record.key)
            async with running(agents.customer_agent, topics.INTERACTIONS) as entry:
                await deliver(entry, avro(reply), f"phone:{PHONE}".encode())
            for record in handoff(agents.topics.identity):
                await deliver(agent, record.value, record.key)
        commands = handoff(agents.topics.customer_commands)
        assert [r.key for r in commands] == [CUSTOMER.encode()]

        async with running(
            agents.customer_commands_agent, agents.topics.customer_commands
        ) as agent:
            for record in commands:
                await deliver(agent, record.value, record.key)

        (suppression,) = sent.to(topics.SUPPRESSIONS)
        assert suppression.key == b"A:c-42"
        assert decoded(suppression).source_event_id == "twilio-SM1"
        (removal,) = sent.to(topics.DIAL_LIST)
        assert (removal.key, removal.value) == (b"A:c-42", None)
        assert state_of(CUSTOMER).dial_list_campaigns() == {}


async def test_customer_locks_serialise_one_customer_and_forget_idle_ones() -> None:
    """While one event of a customer waits for the lock, the lock must outlive the holder
    before it; otherwise a third event would take a fresh lock and run beside the second,
    and one of their updates would be lost."""
    import asyncio

    order: list[str] = []
    gates = {"a": asyncio.Event(), "b": asyncio.Event(), "c": asyncio.Event()}

    async def event(name: str) -> None:
        async with agents.customer_locks.hold("c-1"):
            order.append(f"{name}+")
            await gates[name].wait()
            order.append(f"{name}-")

    first = asyncio.create_task(event("a"))
    await asyncio.sleep(0)
    second = asyncio.create_task(event("b"))
    await asyncio.sleep(0)
    gates["a"].set()
    await first
    for _ in range(3):
        await asyncio.sleep(0)
    assert order == ["a+", "a-", "b+"]
    assert len(agents.customer_locks) == 1  # b holds it
    third = asyncio.create_task(event("c"))
    for _ in range(3):
        await asyncio.sleep(0)
    assert order == ["a+", "a-", "b+"]  # c waits for b
    gates["b"].set()
    gates["c"].set()
    await asyncio.gather(second, third)
    assert order == ["a+", "a-", "b+", "b-", "c+", "c-"]
    assert len(agents.customer_locks) == 0
