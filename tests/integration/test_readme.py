"""The README's SDK example runs as written (against the test broker)."""

from __future__ import annotations

import asyncio
import re

import pytest

from streams.domain.events import CampaignTarget, Interaction
from streams.kafka.local import LocalKafka
from tests.hub import REPO, read_until

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
