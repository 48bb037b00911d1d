"""Alerts an agent must see first, from the state at read time; never with personal data.

- HANDLE_WITH_CARE (HIGH): 2 or more complaints opened in the last 30 days.
- OVERDUE_BALANCE (HIGH): the billing system reports an unpaid balance.
- REPEAT_TOPIC (HIGH): 3 or more inbound contacts in the last 7 days about the same topic
  ("called three times this week about the same thing"), as far as the timeline reaches.
- OPTED_OUT_ALL (HIGH): opted out of every channel: no marketing at all.
- ABUSIVE_LANGUAGE (MEDIUM): abusive language in an inbound message in the last 365 days.
- OPEN_COMPLAINT (MEDIUM): a complaint not yet resolved.

Most severe first; within a severity, by code.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from streams.domain.customer import CustomerState
from streams.domain.model import Direction

HANDLE_WITH_CARE_COMPLAINTS = 2
HANDLE_WITH_CARE_DAYS = 30
REPEAT_TOPIC_CONTACTS = 3
REPEAT_TOPIC_DAYS = 7
ABUSE_ALERT_DAYS = 365

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")


@dataclass(frozen=True)
class Alert:
    code: str
    severity: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "severity": self.severity, "message": self.message}


def counted(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _since(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


def _days_ago(moment: datetime, now: datetime) -> str:
    days = (now - moment).days
    return "today" if days <= 0 else "yesterday" if days == 1 else f"{days} days ago"


def alerts(state: CustomerState, now: datetime) -> list[Alert]:
    found: list[Alert] = []
    recent = [
        c for c in state.complaints if _since(now, HANDLE_WITH_CARE_DAYS) <= c.opened_at <= now
    ]
    if len(recent) >= HANDLE_WITH_CARE_COMPLAINTS:
        message = (
            f"{len(recent)} complaints in the last {HANDLE_WITH_CARE_DAYS} days: handle with care"
        )
        found.append(Alert("HANDLE_WITH_CARE", "HIGH", message))
    overdue = state.profile.overdue(now)
    if overdue is not None:
        message = "Overdue balance" + (f" for {overdue.days} days" if overdue.days else "")
        found.append(Alert("OVERDUE_BALANCE", "HIGH", message))
    topic = _repeated_topic(state, now)
    if topic is not None:
        name, count = topic
        message = f"Contacted us {count} times in {REPEAT_TOPIC_DAYS} days about {name}"
        found.append(Alert("REPEAT_TOPIC", "HIGH", message))
    if state.opted_out_all:
        found.append(Alert("OPTED_OUT_ALL", "HIGH", "Opted out of all contact: no marketing"))
    last_abuse = state.last_abusive_at
    if last_abuse is not None and _since(now, ABUSE_ALERT_DAYS) <= last_abuse:
        message = (
            f"Abusive language in {counted(state.abusive_count, 'message')}, "
            f"the last {_days_ago(last_abuse, now)}"
        )
        found.append(Alert("ABUSIVE_LANGUAGE", "MEDIUM", message))
    open_complaints = [c for c in state.complaints if c.is_open]
    if open_complaints:
        categories = ", ".join(sorted({c.category for c in open_complaints}))
        message = f"{counted(len(open_complaints), 'open complaint')} ({categories})"
        found.append(Alert("OPEN_COMPLAINT", "MEDIUM", message))
    return sorted(found, key=lambda a: (SEVERITIES.index(a.severity), a.code))


def _repeated_topic(state: CustomerState, now: datetime) -> tuple[str, int] | None:
    """The topic most inbound contacts of the last days were about, if often enough."""
    since = _since(now, REPEAT_TOPIC_DAYS)
    topics: Counter[str] = Counter()
    names: dict[str, str] = {}
    for entry in state.timeline:
        if entry.direction is not Direction.INBOUND or entry.topic is None:
            continue
        if not since <= entry.occurred_at <= now:
            continue
        key = entry.topic.casefold()
        topics[key] += 1
        names.setdefault(key, entry.topic)
    if not topics:
        return None
    key, count = min(topics.items(), key=lambda item: (-item[1], item[0]))
    return (names[key], count) if count >= REPEAT_TOPIC_CONTACTS else None
