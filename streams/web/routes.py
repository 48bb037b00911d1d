"""The HTTP API of a hub, in one table: every path and the view that answers it, in the
order aiohttp matches them, and what the views keep running beside the app.

aiohttp tries routes in the order they were added, and a fixed path must come before a
pattern that would also take it: `/v1/customers/search` and `/v1/customers/by-identity`
before `/v1/customers/{customer_id}`. That order is the order of `ROUTES`, and nothing
else (not the order modules are imported in) decides it.

The paths, methods, status codes, headers and bodies are a public contract."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from faust.web import View

from streams.domain.access import Role
from streams.kafka import faust_internals
from streams.kafka.connection import KafkaConnection
from streams.views.dial_list import DialListView
from streams.views.owned_reads import OwnedReads
from streams.views.screen_pops import ScreenPopFanout, ScreenPopReader
from streams.web import (
    agent_desktop,
    campaigns,
    channels,
    contact,
    customers,
    health,
    identities,
    interactions,
    policies,
    publishing,
    sendgrid,
    twilio,
)
from streams.web.base import ApiView, handlers_of
from streams.web.parts import WebParts

if TYPE_CHECKING:
    from streams.processing.app import TouchlineApp

log = logging.getLogger(__name__)

# Who may call each route: a role for every method, or one per method; `OPEN` needs no API
# key (the static desktop page, health, metrics), `SIGNED` is checked by the vendor's
# signature instead of a key. docs/http-api.md shows this table.
OPEN = None
SIGNED = None
VIEWER, AGENT, OPERATOR, ADMIN = Role.VIEWER, Role.AGENT, Role.OPERATOR, Role.ADMIN
Access = Role | Mapping[str, Role] | None

ROUTES: tuple[tuple[str, type[View], Access], ...] = (
    # The agent desktop: the screen-pop stream and the single-page app.
    ("/v1/agents/{agent_id}/screen-pops", agent_desktop.ScreenPopStream, AGENT),
    ("/ui/", agent_desktop.DesktopPage, OPEN),
    ("/ui/agent/{agent_id}", agent_desktop.AgentDesktopPage, OPEN),
    ("/ui/app.js", agent_desktop.DesktopScript, OPEN),
    ("/ui/app.css", agent_desktop.DesktopStyles, OPEN),
    ("/ui", agent_desktop.DesktopRedirect, OPEN),
    # Interactions, campaign targets and dial lists.
    ("/v1/interactions", interactions.InteractionsView, OPERATOR),
    ("/v1/campaigns/{campaign_id}/targets", campaigns.TargetsView, OPERATOR),
    ("/v1/campaigns/{campaign_id}/dial-list", campaigns.DialListExport, VIEWER),
    # JSON channel adapters.
    ("/v1/webhooks/sms/generic", channels.GenericSmsGateway, OPERATOR),
    ("/v1/webhooks/voice/amazon-connect", channels.AmazonConnectRecords, OPERATOR),
    ("/v1/ivr/sessions", channels.IvrSessions, OPERATOR),
    ("/v1/contexts", channels.Contexts, OPERATOR),
    # Finding customers: these fixed paths before /v1/customers/{customer_id}.
    ("/v1/customers/by-identity", identities.CustomerByIdentity, VIEWER),
    ("/v1/customers/search", identities.CustomerSearch, VIEWER),
    ("/v1/internal/identity", identities.IdentityHolder, VIEWER),
    ("/v1/internal/names", identities.NameEntries, VIEWER),
    ("/v1/customers/{customer_id}/timeline", customers.CustomerTimeline, VIEWER),
    ("/v1/customers/{customer_id}/merge", identities.MergeRequest, ADMIN),
    ("/v1/customers/{customer_id}/unmerge", identities.UnmergeRequest, ADMIN),
    # The contact check and the decisions behind it.
    ("/v1/contact-check", contact.ContactCheck, VIEWER),
    ("/v1/customers/{customer_id}/decisions", contact.CustomerDecisions, VIEWER),
    # The customer view: after every other /v1/customers/... path.
    ("/v1/customers/{customer_id}", customers.CustomerView, VIEWER),
    # Operations.
    ("/healthz", health.Health, OPEN),
    ("/metrics", health.Metrics, OPEN),
    # Contact policies and do-not-contact lists.
    (
        "/v1/campaigns/{campaign_id}/policy",
        policies.CampaignPolicyView,
        {"get": VIEWER, "put": ADMIN},
    ),
    ("/v1/dnc", policies.DncImportView, OPERATOR),
    ("/v1/dnc/{kind}/{value}", policies.DncEntryView, {"get": VIEWER, "delete": OPERATOR}),
    # Vendor webhooks: Twilio and SendGrid events are checked by their signatures; SendGrid
    # Inbound Parse can only send a key (Basic auth in its URL).
    ("/v1/webhooks/email/sendgrid/events", sendgrid.SendGridEventWebhook, SIGNED),
    ("/v1/webhooks/email/sendgrid/inbound", sendgrid.SendGridInboundParse, OPERATOR),
    ("/v1/webhooks/sms/twilio", twilio.TwilioSmsWebhook, SIGNED),
    ("/v1/webhooks/sms/twilio/status", twilio.TwilioSmsStatusWebhook, SIGNED),
    ("/v1/webhooks/voice/twilio", twilio.TwilioVoiceStatusWebhook, SIGNED),
)


def secured(view: type[View], access: Access) -> type[View]:
    """`view` with its access declared for each of its methods (`ApiView` enforces it);
    views that are not `ApiView`s are open and must be declared so."""
    if not issubclass(view, ApiView):
        if access is not OPEN:
            raise TypeError(f"{view.__name__} checks no key: declare it OPEN")
        return view
    handlers = handlers_of(view)
    per_method: dict[str, Role | None]
    if isinstance(access, Mapping):
        if set(access) != set(handlers):
            raise TypeError(f"{view.__name__}: access for {sorted(access)}, methods {handlers}")
        per_method = dict(access)
    else:
        per_method = dict.fromkeys(handlers, access)
    return type(view.__name__, (view,), {"access": per_method, "__doc__": view.__doc__})


def make_parts(app: TouchlineApp) -> WebParts:
    """What the views of `app` keep between requests. Raises ConfigError for a setting
    the views cannot use (a SendGrid key that is not one)."""
    settings = app.settings
    fanout = ScreenPopFanout()

    async def screen_pop_partitions(topic: str) -> set[int]:
        return await faust_internals.producer_partitions(app, topic)

    return WebParts(
        producer=publishing.AdapterProducer(settings),
        reads=OwnedReads(app),
        screen_pops=fanout,
        screen_pop_reader=ScreenPopReader(
            KafkaConnection.of(settings),
            app.internal_topics.screen_pops,
            app.serializer,
            fanout,
            partitions=screen_pop_partitions,
        ),
        dial_list=DialListView(KafkaConnection.of(settings), app.serializer),
        sendgrid_key=sendgrid.event_webhook_key(settings),
    )


def install_routes(app: TouchlineApp) -> None:
    """Give `app` its HTTP API: `app.web_parts`, every page of `ROUTES` in order, and what
    the views need running beside the app: the screen-pop reader, the dial-list view, the
    adapter producer's shutdown, and the hook that ends open screen-pop streams when the
    web server stops. (The policy and DNC books are the app's own, made and kept running
    by `streams.processing.app`; an app without a web server gets none of this:
    `streams.app.create_app`.)"""
    parts = app.web_parts = make_parts(app)
    if not app.settings.api_keys:
        log.warning(
            "TOUCHLINE_API_KEYS is not set: every endpoint is open to anyone who can reach %s:%d",
            app.settings.web_host,
            app.settings.web_port,
        )
    if app.settings.insecure_webhooks:
        log.warning(
            "TOUCHLINE_INSECURE_WEBHOOKS is set: vendor webhooks without a configured secret "
            "accept unsigned requests; anyone who can reach the hub can forge them "
            "(for local development only)"
        )
    for path, view, access in ROUTES:
        app.page(path)(secured(view, access))
    app.task(agent_desktop.reader_keeper(parts.screen_pop_reader))
    app.task(parts.dial_list.run)
    app.service(publishing.stopping_service(parts.producer))
    app.web.web_app.on_shutdown.append(  # type: ignore[attr-defined]
        agent_desktop.stream_ender(parts.screen_pops)
    )
