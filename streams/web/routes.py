"""The HTTP API of a hub, in one table: every path and the view that answers it, in the
order aiohttp matches them, and what the views keep running beside the app.

aiohttp tries routes in the order they were added, and a fixed path must come before a
pattern that would also take it: `/v1/customers/search` and `/v1/customers/by-identity`
before `/v1/customers/{customer_id}`. That order is the order of `ROUTES`, and nothing
else (not the order modules are imported in) decides it.

The paths, methods, status codes, headers and bodies are a public contract."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faust.web import View

from streams.kafka import faust_internals
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
from streams.web.parts import WebParts

if TYPE_CHECKING:
    from streams.processing.app import TouchlineApp

ROUTES: tuple[tuple[str, type[View]], ...] = (
    # The agent desktop: the screen-pop stream and the single-page app.
    ("/v1/agents/{agent_id}/screen-pops", agent_desktop.ScreenPopStream),
    ("/ui/", agent_desktop.DesktopPage),
    ("/ui/agent/{agent_id}", agent_desktop.AgentDesktopPage),
    ("/ui/app.js", agent_desktop.DesktopScript),
    ("/ui/app.css", agent_desktop.DesktopStyles),
    ("/ui", agent_desktop.DesktopRedirect),
    # Interactions, campaign targets and dial lists.
    ("/v1/interactions", interactions.InteractionsView),
    ("/v1/campaigns/{campaign_id}/targets", campaigns.TargetsView),
    ("/v1/campaigns/{campaign_id}/dial-list", campaigns.DialListExport),
    # JSON channel adapters.
    ("/v1/webhooks/sms/generic", channels.GenericSmsGateway),
    ("/v1/webhooks/voice/amazon-connect", channels.AmazonConnectRecords),
    ("/v1/ivr/sessions", channels.IvrSessions),
    ("/v1/contexts", channels.Contexts),
    # Finding customers: these fixed paths before /v1/customers/{customer_id}.
    ("/v1/customers/by-identity", identities.CustomerByIdentity),
    ("/v1/customers/search", identities.CustomerSearch),
    ("/v1/internal/identity", identities.IdentityHolder),
    ("/v1/internal/names", identities.NameEntries),
    ("/v1/customers/{customer_id}/timeline", customers.CustomerTimeline),
    ("/v1/customers/{customer_id}/merge", identities.MergeRequest),
    ("/v1/customers/{customer_id}/unmerge", identities.UnmergeRequest),
    # The contact check and the decisions behind it.
    ("/v1/contact-check", contact.ContactCheck),
    ("/v1/customers/{customer_id}/decisions", contact.CustomerDecisions),
    # The customer view: after every other /v1/customers/... path.
    ("/v1/customers/{customer_id}", customers.CustomerView),
    # Operations.
    ("/healthz", health.Health),
    ("/metrics", health.Metrics),
    # Contact policies and do-not-contact lists.
    ("/v1/campaigns/{campaign_id}/policy", policies.CampaignPolicyView),
    ("/v1/dnc", policies.DncImportView),
    ("/v1/dnc/{kind}/{value}", policies.DncEntryView),
    # Vendor webhooks, authenticated by their signatures.
    ("/v1/webhooks/email/sendgrid/events", sendgrid.SendGridEventWebhook),
    ("/v1/webhooks/email/sendgrid/inbound", sendgrid.SendGridInboundParse),
    ("/v1/webhooks/sms/twilio", twilio.TwilioSmsWebhook),
    ("/v1/webhooks/sms/twilio/status", twilio.TwilioSmsStatusWebhook),
    ("/v1/webhooks/voice/twilio", twilio.TwilioVoiceStatusWebhook),
)


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
            settings.bootstrap_servers,
            app.internal_topics.screen_pops,
            app.serializer,
            fanout,
            partitions=screen_pop_partitions,
        ),
        dial_list=DialListView(settings.bootstrap_servers, app.serializer),
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
    for path, view in ROUTES:
        app.page(path)(view)
    app.task(agent_desktop.reader_keeper(parts.screen_pop_reader))
    app.task(parts.dial_list.run)
    app.service(publishing.stopping_service(parts.producer))
    app.web.web_app.on_shutdown.append(  # type: ignore[attr-defined]
        agent_desktop.stream_ender(parts.screen_pops)
    )
