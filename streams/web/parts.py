"""What the HTTP layer of one app keeps between requests: made by
`streams.web.routes.install_routes` and put on `app.web_parts`, so that two apps in one
process (tests) share nothing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

    from streams.processing.app import TouchlineApp
    from streams.views.dial_list import DialListView
    from streams.views.owned_reads import OwnedReads
    from streams.views.screen_pops import ScreenPopFanout, ScreenPopReader
    from streams.web.publishing import AdapterProducer


@dataclass
class WebParts:
    # The SDK producer every adapter view publishes through (streams.web.publishing).
    producer: AdapterProducer
    # Which worker owns a table key, and the owned customer reads (with their caches).
    reads: OwnedReads
    # The agent desktop: the browsers' subscriptions, and the reader that feeds them.
    screen_pops: ScreenPopFanout
    screen_pop_reader: ScreenPopReader
    # The campaigns' dial lists, read whole by every worker.
    dial_list: DialListView
    # SendGrid's Event Webhook verification key (None: signatures are not checked).
    sendgrid_key: EllipticCurvePublicKey | None = None
    # One policy write at a time on this worker; each campaign's writes all come to the
    # worker that owns its key (streams.web.policies).
    policy_writes: asyncio.Lock = field(default_factory=asyncio.Lock)


def parts_of(app: TouchlineApp) -> WebParts:
    """The web parts of an app whose routes are installed."""
    return cast("WebParts", app.web_parts)
