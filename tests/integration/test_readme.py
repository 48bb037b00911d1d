"""The README's SDK example runs as written (against the test broker)."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime

import pytest

from streams.domain.decisions import Suppression
from streams.domain.events import CampaignTarget, Interaction
from streams.domain.model import Channel, SuppressionReason
from streams.kafka.local import LocalKafka
from streams.wire.serialization import AvroSerializer
from tests.hub import REPO, produce_raw, read_until

pytestmark = pytest.mark.kafka


def sdk_example() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Producing from Python: the SDK", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the SDK section has a python example"
    return match.group(1)


async def test_readme_sdk_example_publishes_its_target_and_offer(
    kafka: LocalKafka, topics_ready: str
) -> None:
    code = sdk_example()
    assert '"127.0.0.1:9092"' in code
    code = code.replace('"127.0.0.1:9092"', repr(kafka.bootstrap))
    await asyncio.to_thread(exec, compile(code, "README.md", "exec"), {})

    offers = await read_until(
        kafka.bootstrap,
        "touchline.interactions.v1",
        lambda rs: any(
            isinstance(r.value, Interaction)
            and r.value.customer.customer_id == "c-42"
            and r.value.payload.type == "OfferPresented"
            for r in rs
        ),
    )
    assert any(r.key == "c-42" for r in offers)
    await read_until(
        kafka.bootstrap,
        "touchline.campaign-targets.v1",
        lambda rs: any(
            isinstance(r.value, CampaignTarget) and r.key == "spring-loan:c-42" for r in rs
        ),
    )


def consumer_example() -> str:
    topics = (REPO / "docs" / "topics.md").read_text()
    section = topics.split("Consuming suppressions from Python", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "docs/topics.md has a consumer example"
    return match.group(1)


class _Printed(Exception):
    """Stops the example's endless loop after its first line."""


async def test_readme_consumer_example_prints_a_suppression(
    kafka: LocalKafka, topics_ready: str
) -> None:
    serializer = AvroSerializer()
    decided = Suppression(
        suppression_id="readme-1",
        campaign_id="readme-loan",
        customer_id="c-readme",
        reason=SuppressionReason.OFFER_ACCEPTED,
        source_event_id="SM-readme",
        source_channel=Channel.SMS,
        policy="sms-reply-correlation/v1",
        occurred_at=datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
        decided_at=datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
    )
    await produce_raw(
        kafka.bootstrap,
        "touchline.suppressions.v1",
        decided.key.encode(),
        serializer.encode_model(decided),
    )
    code = consumer_example()
    assert '"127.0.0.1:9092"' in code
    code = code.replace('"127.0.0.1:9092"', repr(kafka.bootstrap))
    code = code.replace('group_id="my-dialler"', f'group_id="readme-{uuid.uuid4().hex}"')
    lines: list[str] = []

    def printed(*args: object) -> None:
        lines.append(" ".join(str(a) for a in args))
        if any("c-readme" in line for line in lines):
            raise _Printed

    with pytest.raises(_Printed):
        await asyncio.wait_for(
            asyncio.to_thread(exec, compile(code, "docs/topics.md", "exec"), {"print": printed}),
            60,
        )
    assert "readme-loan c-readme OFFER_ACCEPTED because of SM-readme" in lines
