"""The worker's books of policies and do-not-contact entries, fed records by hand (no
broker): version history, tombstones, and bad records skipped without a word of personal
data; and the records the API publishes to their topics."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streams.domain.campaign_policy import (
    CampaignPolicy,
    DoNotContactEntry,
    dnc_entry,
    parse_dnc_csv,
    parse_policy,
    parse_policy_toml,
)
from streams.domain.decisions import DialListEntry
from streams.kafka.compacted_topic import NotCaughtUp
from streams.views.policy_books import DncBook, PolicyBook
from streams.wire import cloudevents, outgoing, topics
from streams.wire.serialization import AvroSerializer

PHONE = "+905321234567"
EMAIL = "ayse@example.com"


@pytest.fixture(scope="module")
def serializer() -> AvroSerializer:
    return AvroSerializer()


def policy(version: int, campaign_id: str = "spring-loan", **fields: object) -> CampaignPolicy:
    return parse_policy({"campaign_id": campaign_id, "version": version, **fields})


def feed_policy(book: PolicyBook, serializer: AvroSerializer, made: CampaignPolicy) -> None:
    record = outgoing.campaign_policy(serializer, made, "/test")
    book.apply(record.key, record.value)


def feed_entry(book: DncBook, serializer: AvroSerializer, entry: DoNotContactEntry) -> None:
    record = outgoing.dnc_entry(serializer, entry, "/test")
    book.apply(record.key, record.value)


# -- policies -------------------------------------------------------------------------


def test_a_campaign_without_a_policy_gets_the_defaults(serializer: AvroSerializer) -> None:
    book = PolicyBook(serializer=serializer)
    latest = book.latest("spring-loan")
    assert latest.campaign_id == "spring-loan"
    assert latest.version is None
    assert latest.complaint_cooldown_days == 30
    assert book.applied("spring-loan") is None
    assert book.version("spring-loan", 1) is None
    assert book.latest("spring-loan") is latest  # built once, not on every decision


def test_every_version_is_kept_and_the_latest_wins(serializer: AvroSerializer) -> None:
    book = PolicyBook(serializer=serializer)
    first = policy(1, complaint_cooldown_days=10)
    second = policy(2, complaint_cooldown_days=20, channels=["VOICE"])
    other = policy(7, campaign_id="card-upsell")
    for made in (first, second, other):
        feed_policy(book, serializer, made)
    assert book.latest("spring-loan") == second
    assert book.applied("spring-loan") == second
    assert book.version("spring-loan", 1) == first
    assert book.version("spring-loan", 2) == second
    assert book.version("spring-loan", 3) is None
    assert book.latest("card-upsell") == other
    assert book.version("card-upsell", 1) is None


def test_the_last_record_on_the_key_is_the_latest_as_compaction_would_keep(
    serializer: AvroSerializer, caplog: pytest.LogCaptureFixture
) -> None:
    """Two writers that raced past the version check: every worker must agree with one
    that reads the topic after compaction, when only the last record is left."""
    book = PolicyBook(serializer=serializer)
    feed_policy(book, serializer, policy(5))
    with caplog.at_level(logging.WARNING, logger="streams.views.policy_books"):
        feed_policy(book, serializer, policy(4))
    assert book.latest("spring-loan").version == 4
    assert book.version("spring-loan", 5) is not None
    assert "from policy version 5 to 4" in caplog.text


def test_a_tombstone_withdraws_the_campaigns_policy(serializer: AvroSerializer) -> None:
    book = PolicyBook(serializer=serializer)
    feed_policy(book, serializer, policy(1))
    feed_policy(book, serializer, policy(1, campaign_id="card-upsell"))
    book.apply(b"spring-loan", None)
    assert book.latest("spring-loan").version is None
    assert book.version("spring-loan", 1) is None
    assert book.latest("card-upsell").version == 1
    book.apply(b"never-seen", None)  # nothing to remove: no harm


@pytest.mark.parametrize(
    "value",
    [b"\xde\xad\xbe\xef", b'{"campaign_id": "spring-loan"}', b"\xc3\x01" + bytes(8), b"\xc3"],
    ids=["binary", "json", "unknown-fingerprint", "half-marker"],
)
def test_garbage_is_skipped_and_counted(serializer: AvroSerializer, value: bytes) -> None:
    book = PolicyBook(serializer=serializer)
    feed_policy(book, serializer, policy(1))
    book.apply(b"spring-loan", value)
    assert book.skipped == 1
    assert book.latest("spring-loan").version == 1


def test_records_that_do_not_belong_are_skipped(serializer: AvroSerializer) -> None:
    book = PolicyBook(serializer=serializer)
    wrong_key = outgoing.campaign_policy(serializer, policy(1), "/test")
    book.apply(b"card-upsell", wrong_key.value)
    book.apply(None, wrong_key.value)
    entry = DialListEntry(
        campaign_id="spring-loan",
        customer_id="c-42",
        priority=0,
        added_at=datetime(2026, 11, 23, tzinfo=UTC),
        source_id="u-1",
    )
    book.apply(b"spring-loan", serializer.encode_model(entry))
    unversioned = CampaignPolicy(campaign_id="spring-loan")  # only the defaults have none
    book.apply(b"spring-loan", serializer.encode_model(unversioned))
    assert book.skipped == 4
    assert book.applied("spring-loan") is None
    assert book.applied("card-upsell") is None


# -- do-not-contact -------------------------------------------------------------------


def test_entries_are_found_by_identity_key(serializer: AvroSerializer) -> None:
    book = DncBook(serializer=serializer)
    phone = dnc_entry("phone", PHONE, list_id="iys")
    email = dnc_entry("email", "Ayse@Example.com", expires_at=datetime(2027, 1, 1, tzinfo=UTC))
    feed_entry(book, serializer, phone)
    feed_entry(book, serializer, email)
    assert book.entries_for([f"phone:{PHONE}"]) == [phone]
    assert book.entries_for([f"phone:{PHONE}", f"email:{EMAIL}", "phone:+15550000"]) == [
        phone,
        email,
    ]
    assert book.entries_for([f"phone:{PHONE}", f"phone:{PHONE}"]) == [phone]
    assert book.entries_for([]) == []
    assert book.entry(f"email:{EMAIL}") == email


def test_a_later_entry_replaces_one_and_a_tombstone_removes_it(serializer: AvroSerializer) -> None:
    book = DncBook(serializer=serializer)
    feed_entry(book, serializer, dnc_entry("phone", PHONE, list_id="old"))
    newer = dnc_entry("phone", PHONE, list_id="new")
    feed_entry(book, serializer, newer)
    assert book.entries_for([f"phone:{PHONE}"]) == [newer]
    removal = outgoing.dnc_removal(f"phone:{PHONE}", "/test")
    book.apply(removal.key, removal.value)
    assert book.entries_for([f"phone:{PHONE}"]) == []
    book.apply(removal.key, removal.value)  # removing twice changes nothing


def test_bad_dnc_records_are_skipped_without_personal_data_in_the_log(
    serializer: AvroSerializer, caplog: pytest.LogCaptureFixture
) -> None:
    book = DncBook(serializer=serializer)
    entry = dnc_entry("phone", PHONE)
    good = outgoing.dnc_entry(serializer, entry, "/test")
    with caplog.at_level(logging.WARNING, logger="streams.views.policy_books"):
        book.apply(f"phone:{PHONE}".encode(), b"\xde\xad\xbe\xef")
        book.apply(b"phone:+905329999999", good.value)  # under another identity's key
        book.apply(None, good.value)
        book.apply(
            f"phone:{PHONE}".encode(), outgoing.campaign_policy(serializer, policy(1), "/t").value
        )
    assert book.skipped == 4
    assert book.entries == {}
    assert caplog.records, "each skipped record is reported"
    assert "+90532" not in caplog.text
    assert "5321234567" not in caplog.text


async def test_ready_times_out_while_the_book_is_not_running(serializer: AvroSerializer) -> None:
    book = DncBook(serializer=serializer)
    assert not book.is_ready
    with pytest.raises(NotCaughtUp):
        await book.ready(timeout=0.2)


async def test_a_book_filled_by_hand_can_be_marked_ready(serializer: AvroSerializer) -> None:
    book = PolicyBook(serializer=serializer)
    feed_policy(book, serializer, policy(1))
    book.mark_ready()
    await asyncio.wait_for(book.ready(), 1)
    assert book.is_ready


async def test_a_book_without_a_broker_refuses_to_run() -> None:
    with pytest.raises(RuntimeError, match="configure"):
        await PolicyBook().run()


# -- the records ----------------------------------------------------------------------


def test_policy_records_are_keyed_by_campaign_with_cloudevents_headers(
    serializer: AvroSerializer,
) -> None:
    made = policy(3)
    record = outgoing.campaign_policy(serializer, made, "/touchline/http")
    assert record.topic == topics.POLICIES == "touchline.policies.v1"
    assert record.key == b"spring-loan"
    assert record.value is not None and serializer.decode_model(record.value) == made
    headers = cloudevents.as_dict(record.headers)
    assert headers["ce_type"] == "touchline.policy"
    assert headers["ce_subject"] == "spring-loan"
    assert headers["ce_id"] == "spring-loan:v3"
    assert headers["ce_source"] == "/touchline/http"
    assert headers["ce_specversion"] == "1.0"


def test_dnc_records_are_keyed_by_identity_and_name_nobody_in_headers(
    serializer: AvroSerializer,
) -> None:
    entry = dnc_entry("email", "Ayse@Example.com")
    record = outgoing.dnc_entry(serializer, entry, "/touchline/http")
    assert record.topic == topics.DNC == "touchline.dnc.v1"
    assert record.key == f"email:{EMAIL}".encode()
    assert record.value is not None and serializer.decode_model(record.value) == entry
    headers = cloudevents.as_dict(record.headers)
    assert headers["ce_type"] == "touchline.dnc-entry"
    assert "ce_subject" not in headers
    assert EMAIL not in " ".join(headers.values())
    removal = outgoing.dnc_removal(entry.key, "/touchline/http")
    assert (removal.topic, removal.key, removal.value) == (topics.DNC, record.key, None)
    assert topics.POLICIES in topics.COMPACTED_TOPICS
    assert topics.DNC in topics.COMPACTED_TOPICS


# -- docs/contact-policies.md -----------------------------------------------------------


def test_the_readme_examples_are_what_the_parsers_read() -> None:
    readme = (Path(__file__).resolve().parents[2] / "docs" / "contact-policies.md").read_text()
    section = readme.split("## Contact policies", 1)[1].split("\n## ", 1)[0]
    toml = re.search(r"```toml\n(.*?)```", section, re.S)
    csv = re.search(r"```csv\n(.*?)```", section, re.S)
    assert toml and csv, "the section shows a policy file and a do-not-contact file"
    example = parse_policy_toml(toml.group(1))
    assert (example.campaign_id, example.version) == ("spring-loan", 3)
    assert example.frequency_caps[0].max_contacts == 2
    imported = parse_dnc_csv(csv.group(1), default_region="TR", list_id="national-registry")
    assert imported.rejected == ()
    assert [(e.key, e.list_id) for e in imported.entries] == [
        ("phone:+905321234567", "national-registry"),
        ("email:ayse@example.com", "complaints-desk"),
    ]
    assert imported.entries[0].expires_at == datetime(2027, 2, 1, tzinfo=UTC)
