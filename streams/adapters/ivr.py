"""IVR self-service sessions, posted by the IVR when a session ends.

```json
{"session_id": "ivr-77", "call_id": "CA123", "caller": "+905321234567",
 "dialled": "+908502220000", "started_at": "2026-11-23T10:15:00Z",
 "menu_path": ["main", "cards", "balance"], "account": "TR12 0006 2000 1234",
 "intent": "card_balance", "left_for_agent": true}
```

The account number a caller keys in is personal data: only its masked form (last four
characters) is kept, in `ivr.account_masked`; it is never used as an identity nor put in
metadata. `customer_id`, when the IVR authenticated the caller, names the customer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from streams.adapters.common import VendorFields, adapter, build
from streams.adapters.native import InputError
from streams.domain.events import ContactAttempt, CustomerRef, Interaction, IvrSession
from streams.domain.identity import mask_account
from streams.domain.model import Channel, Direction


@adapter
def session(raw: Any, *, region: str | None, now: datetime) -> Interaction:
    if not isinstance(raw, Mapping):
        raise InputError("", "an IVR session must be a JSON object")
    fields = VendorFields(raw)
    session_id = fields.required("session_id")
    started = fields.time("started_at", required=True)
    caller = fields.phone("caller", region)
    customer_id = fields.text("customer_id")
    if caller is None and customer_id is None:
        raise InputError("caller", "is required (or customer_id)")
    path = fields.raw("menu_path")
    if path is None:
        path = []
    if not isinstance(path, list) or not all(isinstance(step, str) for step in path):
        raise InputError("menu_path", "must be a list of menu names")
    account = fields.text("account")
    left = fields.raw("left_for_agent")
    if left is None:
        left = False
    if not isinstance(left, bool):
        raise InputError("left_for_agent", "must be true or false")
    fields.mark_unused("call_id", "dialled")
    outcome = fields.text("outcome") or ("transferred_to_agent" if left else "self_service")
    return build(
        Interaction,
        {
            "event_id": session_id,
            "occurred_at": started,
            "received_at": now,
            "channel": Channel.IVR,
            "direction": Direction.INBOUND,
            "customer": CustomerRef(customer_id=customer_id, phone=caller),
            "payload": ContactAttempt(campaign_id=fields.text("campaign_id"), outcome=outcome),
            "ivr": IvrSession(
                session_id=session_id,
                menu_path=path,
                account_masked=mask_account(account) if account else None,
                intent=fields.text("intent"),
                left_for_agent=left,
            ),
            "context_token": fields.text("context_token"),
            "metadata": fields.extras(),
        },
    )
