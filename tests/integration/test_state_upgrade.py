"""A worker upgraded in place: customer states its changelog holds in the Avro format of
earlier releases are recovered and served, and rewritten in the current format
(`streams.wire.state_codec`) the next time they change."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from streams.domain.customer import CustomerState, evolve
from streams.domain.events import CustomerRef, Interaction, Message
from streams.domain.model import Channel, Direction
from streams.kafka.admin import ensure_topics
from streams.wire.serialization import AvroSerializer
from streams.wire.state_codec import STATE_MARKER, decode_state, encode_state
from tests.hub import Api, HubWorker, eventually, produce_raw, read_until

pytestmark = pytest.mark.kafka

AVRO = AvroSerializer()


def history(customer_id: str, text: str) -> CustomerState:
    event = Interaction(
        event_id=f"{customer_id}-1",
        occurred_at=datetime.now(UTC) - timedelta(hours=1),
        channel=Channel.CHAT,
        direction=Direction.INBOUND,
        customer=CustomerRef(customer_id=customer_id),
        payload=Message(text=text),
    )
    return evolve(CustomerState.new(customer_id), event)


@pytest.fixture(scope="module")
def app_id() -> str:
    return f"upgrade-{datetime.now(UTC):%H%M%S%f}"


@pytest.fixture(scope="module")
async def old_and_new(topics_ready: str, app_id: str) -> tuple[str, str]:
    """One state as 0.2.0 wrote it (Avro), one as this release writes it."""
    changelog = f"{app_id}-customers-changelog"
    await ensure_topics(topics_ready, 8, internal=(changelog,))
    old, new = "c-from-0.2", "c-from-0.3"
    await produce_raw(topics_ready, changelog, old.encode(), AVRO.encode_model(history(old, "a")))
    await produce_raw(topics_ready, changelog, new.encode(), encode_state(history(new, "b")))
    return old, new


@pytest.fixture(scope="module")
def worker(
    topics_ready: str,
    old_and_new: tuple[str, str],
    app_id: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[HubWorker]:
    with HubWorker(topics_ready, app_id, tmp_path_factory.mktemp("upgrade")) as hub:
        yield hub


async def test_both_formats_are_recovered_and_served(
    api: Api, old_and_new: tuple[str, str]
) -> None:
    for customer in old_and_new:
        status, view = await api.request("GET", f"/v1/customers/{customer}")
        assert status == 200, view
        assert view["customer_id"] == customer
        assert view["contact_history"]["channels"]["CHAT"]["inbound"] == 1


async def test_an_old_state_is_rewritten_in_the_current_format_when_it_changes(
    api: Api, worker: HubWorker, old_and_new: tuple[str, str], app_id: str
) -> None:
    old = old_and_new[0]
    event = {
        "occurred_at": datetime.now(UTC).isoformat(),
        "channel": "CHAT",
        "direction": "INBOUND",
        "customer": {"customer_id": old},
        "payload": {"type": "Message", "text": "hello again"},
    }
    status, body = await api.request("POST", "/v1/interactions", json=event)
    assert status == 202, body
    await eventually(
        lambda: api.request("GET", f"/v1/customers/{old}"),
        lambda r: r[0] == 200 and r[1]["contact_history"]["channels"]["CHAT"]["inbound"] == 2,
    )

    def rewritten(seen: list) -> bool:
        return any(s.key == old and s.raw.value[:4] == STATE_MARKER for s in seen)

    logged = await read_until(worker.bootstrap, f"{app_id}-customers-changelog", rewritten)
    latest = [s.raw.value for s in logged if s.key == old][-1]
    assert latest[:4] == STATE_MARKER
    assert decode_state(latest, AVRO).events_applied == 2
