"""Turning outside input (JSON objects, CSV rows) into validated domain facts, with errors
that name the offending field and never echo personal data."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from streams.domain.errors import FieldError
from streams.domain.events import CampaignTarget, Interaction
from streams.domain.identity import (
    IdentityError,
    normalise_account,
    normalise_device,
    normalise_email,
    normalise_phone,
    normalise_social,
)
from streams.domain.links import resolving_identities


class InputError(FieldError):
    """Input the hub refuses: `field` says where, the message says why."""

    def as_json(self) -> dict[str, str]:
        return {"error": str(self), "field": self.field}


def first_error(exc: ValidationError, prefix: str = "") -> InputError:
    error = exc.errors(include_url=False, include_input=False)[0]
    location = ".".join(str(part) for part in error["loc"] if part != "function-after")
    # A discriminated union puts the chosen tag in the path: payload.Message.text.
    return InputError(prefix + location, error["msg"])


IDENTITY_FIELDS = ("customer_id", "phone", "email", "account", "device", "social")


def normalise_customer(
    raw: Any, default_region: str | None, *, allow_empty: bool = False
) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise InputError(
            "customer",
            "must be an object with customer_id, phone, email, account, device or social",
        )
    customer = dict(raw)
    try:
        if customer.get("phone"):
            customer["phone"] = normalise_phone(
                str(customer["phone"]), default_region, field="customer.phone"
            )
        if customer.get("email"):
            customer["email"] = normalise_email(str(customer["email"]), field="customer.email")
        if customer.get("account"):
            customer["account"] = normalise_account(
                str(customer["account"]), field="customer.account"
            )
        if customer.get("device"):
            customer["device"] = normalise_device(str(customer["device"]), field="customer.device")
        if customer.get("social"):
            customer["social"] = normalise_social(str(customer["social"]), field="customer.social")
    except IdentityError as exc:
        raise InputError(exc.field, exc.message) from None
    if not allow_empty and not any(customer.get(k) for k in IDENTITY_FIELDS):
        raise InputError(
            "customer", "needs at least one of customer_id, phone, email, account, device, social"
        )
    return customer


def parse_interaction(
    raw: Any, *, default_region: str | None = None, now: datetime | None = None
) -> Interaction:
    """One interaction from its JSON form (DESIGN.md); event_id is generated when absent."""
    if not isinstance(raw, Mapping):
        raise InputError("", "an interaction must be a JSON object")
    data = dict(raw)
    received = now or datetime.now(UTC)
    data.setdefault("event_id", None)
    if data["event_id"] is None:
        data["event_id"] = str(uuid.uuid4())
    data.setdefault("received_at", received)
    # A contact that presents a context token is that token's customer's.
    token_only = bool(data.get("context_token")) and isinstance(data.get("context_token"), str)
    if "customer" not in data:
        if not token_only:
            raise InputError("customer", "is required")
        data["customer"] = {}
    data["customer"] = normalise_customer(data["customer"], default_region, allow_empty=token_only)
    payload = data.get("payload")
    if isinstance(payload, Mapping) and "type" not in payload:
        raise InputError("payload.type", "is required (OfferPresented, Message, ...)")
    try:
        return Interaction.model_validate(data)
    except ValidationError as exc:
        raise first_error(exc) from None


def parse_target(
    raw: Any,
    campaign_id: str,
    upload_id: str,
    *,
    default_region: str | None = None,
    now: datetime | None = None,
) -> CampaignTarget:
    if not isinstance(raw, Mapping):
        raise InputError("", "a target must be an object with customer_id and phone")
    phone = raw.get("phone")
    try:
        if phone:
            phone = normalise_phone(str(phone), default_region, field="phone")
    except IdentityError as exc:
        raise InputError(exc.field, exc.message) from None
    priority = raw.get("priority")
    if priority in (None, ""):
        priority = 0
    known = {"customer_id", "phone", "priority"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputError(unknown[0], "is not a target field (customer_id, phone, priority)")
    try:
        return CampaignTarget(
            campaign_id=campaign_id,
            customer_id=raw.get("customer_id"),  # type: ignore[arg-type]
            phone=phone or None,
            priority=priority,  # type: ignore[arg-type]
            uploaded_at=now or datetime.now(UTC),
            upload_id=upload_id,
        )
    except ValidationError as exc:
        raise first_error(exc) from None


def interaction_key(event: Interaction) -> str:
    """The Kafka key of an interaction: the customer id, else the identity the identity
    agent resolves it by."""
    if event.customer.customer_id:
        return event.customer.customer_id
    identities = resolving_identities(event)
    if not identities:
        raise InputError(
            "customer", "needs at least one of customer_id, phone, email, account, device, social"
        )
    return identities[0]
