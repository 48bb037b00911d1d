"""The SendGrid adapter: Event Webhook signatures and events, Inbound Parse.

Signatures are made with starkbank-ecdsa, the library SendGrid's own Python helper
(`sendgrid.helpers.eventwebhook`) verifies with, so the check is held to SendGrid's
algorithm rather than to our reading of it.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ellipticcurve.curve import prime256v1, secp256k1
from ellipticcurve.ecdsa import Ecdsa
from ellipticcurve.privateKey import PrivateKey

from streams.adapters import sendgrid
from streams.adapters.native import InputError
from streams.domain.events import ContactAttempt, Message, OptOut
from streams.domain.model import Channel, Direction

NOW = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
SENT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
BODY = json.dumps([{"email": "ada@example.com", "event": "delivered"}]).encode()


# --- signatures --------------------------------------------------------------------------


def _key_pair() -> tuple[PrivateKey, str]:
    """A P-256 private key and its public key as SendGrid's dashboard shows it."""
    private = PrivateKey(curve=prime256v1)
    return private, base64.b64encode(private.publicKey().toDer()).decode()


def _sign(private: PrivateKey, timestamp: str, body: bytes) -> str:
    # As SendGrid signs: the timestamp header followed by the payload.
    return Ecdsa.sign(timestamp + body.decode(), private).toBase64()


@pytest.fixture(scope="module")
def keys() -> tuple[PrivateKey, str]:
    return _key_pair()


def _stamp(moment: datetime = NOW) -> str:
    return str(int(moment.timestamp()))


class TestVerifySignature:
    def test_accepts_sendgrids_signature(self, keys: tuple[PrivateKey, str]) -> None:
        private, public = keys
        stamp = _stamp()
        signature = _sign(private, stamp, BODY)
        assert sendgrid.verify_signature(public, signature, stamp, BODY, now=NOW)

    def test_accepts_pem_and_a_loaded_key(self, keys: tuple[PrivateKey, str]) -> None:
        private, public = keys
        stamp = _stamp()
        signature = _sign(private, stamp, BODY)
        pem = private.publicKey().toPem()
        assert sendgrid.verify_signature(pem, signature, stamp, BODY, now=NOW)
        loaded = sendgrid.load_public_key(public)
        assert sendgrid.verify_signature(loaded, signature, stamp, BODY, now=NOW)

    def test_signs_the_raw_bytes(self, keys: tuple[PrivateKey, str]) -> None:
        private, public = keys
        body = json.dumps([{"email": "şule@example.com"}], ensure_ascii=False).encode()
        stamp = _stamp()
        signature = _sign(private, stamp, body)
        assert sendgrid.verify_signature(public, signature, stamp, body, now=NOW)

    def test_rejects_a_tampered_body(self, keys: tuple[PrivateKey, str]) -> None:
        private, public = keys
        stamp = _stamp()
        signature = _sign(private, stamp, BODY)
        tampered = BODY.replace(b"delivered", b"bounce")
        assert not sendgrid.verify_signature(public, signature, stamp, tampered, now=NOW)

    def test_rejects_a_tampered_timestamp(self, keys: tuple[PrivateKey, str]) -> None:
        private, public = keys
        stamp = _stamp()
        signature = _sign(private, stamp, BODY)
        other = _stamp(NOW - timedelta(seconds=1))
        assert not sendgrid.verify_signature(public, signature, other, BODY, now=NOW)

    def test_rejects_another_keys_signature(self, keys: tuple[PrivateKey, str]) -> None:
        _, public = keys
        stranger, _ = _key_pair()
        stamp = _stamp()
        signature = _sign(stranger, stamp, BODY)
        assert not sendgrid.verify_signature(public, signature, stamp, BODY, now=NOW)

    @pytest.mark.parametrize(
        "signature",
        ["", "not base64!", "AAAA", base64.b64encode(b"\x30\x02\x01\x01").decode(), "=" * 8],
    )
    def test_garbage_signatures_are_false_not_errors(
        self, keys: tuple[PrivateKey, str], signature: str
    ) -> None:
        _, public = keys
        assert not sendgrid.verify_signature(public, signature, _stamp(), BODY, now=NOW)

    @pytest.mark.parametrize(
        "stamp", ["", "yesterday", "-1", "1.5", "١٧٠٠٠٠٠٠٠٠", "9" * 12, "9" * 40]
    )
    def test_malformed_timestamps_are_false(self, keys: tuple[PrivateKey, str], stamp: str) -> None:
        private, public = keys
        signature = _sign(private, stamp, BODY)
        assert not sendgrid.verify_signature(public, signature, stamp, BODY, now=NOW)

    def test_rejects_an_old_timestamp_even_when_signed(self, keys: tuple[PrivateKey, str]) -> None:
        private, public = keys
        stamp = _stamp(NOW - timedelta(minutes=11))
        signature = _sign(private, stamp, BODY)
        assert not sendgrid.verify_signature(public, signature, stamp, BODY, now=NOW)
        assert sendgrid.verify_signature(
            public, signature, stamp, BODY, now=NOW, tolerance=timedelta(minutes=15)
        )

    def test_rejects_a_timestamp_far_in_the_future(self, keys: tuple[PrivateKey, str]) -> None:
        private, public = keys
        stamp = _stamp(NOW + timedelta(hours=1))
        signature = _sign(private, stamp, BODY)
        assert not sendgrid.verify_signature(public, signature, stamp, BODY, now=NOW)

    def test_accepts_a_timestamp_within_the_tolerance(self, keys: tuple[PrivateKey, str]) -> None:
        private, public = keys
        stamp = _stamp(NOW - timedelta(minutes=9))
        signature = _sign(private, stamp, BODY)
        assert sendgrid.verify_signature(public, signature, stamp, BODY, now=NOW)


class TestLoadPublicKey:
    def test_base64_der_with_line_breaks(self, keys: tuple[PrivateKey, str]) -> None:
        _, public = keys
        wrapped = "\n".join(public[i : i + 40] for i in range(0, len(public), 40))
        assert sendgrid.load_public_key(f"  {wrapped}\n").public_numbers() == (
            sendgrid.load_public_key(public).public_numbers()
        )

    @pytest.mark.parametrize("key", ["", "not a key", "QUJDRA==", "-----BEGIN PUBLIC KEY-----"])
    def test_malformed_key_raises_value_error(self, key: str) -> None:
        with pytest.raises(ValueError, match="public key"):
            sendgrid.load_public_key(key)

    def test_a_key_on_another_curve_is_refused(self) -> None:
        other = base64.b64encode(PrivateKey(curve=secp256k1).publicKey().toDer()).decode()
        with pytest.raises(ValueError, match="P-256"):
            sendgrid.load_public_key(other)

    def test_verify_with_a_malformed_configured_key_raises(self) -> None:
        with pytest.raises(ValueError):
            sendgrid.verify_signature("not a key", "AAAA", _stamp(), BODY, now=NOW)


# --- Event Webhook events ----------------------------------------------------------------


def _event(kind: str, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "email": "Ada@Example.COM",
        "timestamp": int(SENT.timestamp()),
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": kind,
        "category": ["welcome", "spring"],
        "sg_event_id": f"sg-{kind}-1",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        "campaign_id": "spring-loan",
        "marketing_campaign_name": "Spring loans",
    }
    event.update(fields)
    return {k: v for k, v in event.items() if v is not None}


def _one(kind: str, **fields: Any) -> Any:
    [interaction] = sendgrid.events([_event(kind, **fields)], now=NOW)
    return interaction


class TestEvents:
    @pytest.mark.parametrize("kind", ["processed", "delivered", "deferred", "dropped", "bounce"])
    def test_delivery_events_are_outbound_contact_attempts(self, kind: str) -> None:
        event = _one(kind)
        assert event.channel is Channel.EMAIL
        assert event.direction is Direction.OUTBOUND
        assert event.payload == ContactAttempt(campaign_id="spring-loan", outcome=kind)
        assert event.delivery.message_id == "14c5d75ce93"
        assert event.delivery.status == kind
        assert event.metadata["sg_message_id"] == (
            "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"
        )

    def test_bounce_keeps_the_status_code_and_reason(self) -> None:
        event = _one(
            "bounce", status="5.1.1", reason="550 5.1.1 user unknown", type="bounce",
            bounce_classification="Invalid Address",
        )  # fmt: skip
        assert event.delivery.error_code == "5.1.1"
        assert event.metadata["status"] == "5.1.1"
        assert event.metadata["reason"] == "550 5.1.1 user unknown"
        assert event.metadata["type"] == "bounce"
        assert event.metadata["bounce_classification"] == "Invalid Address"

    def test_deferred_without_a_status_has_no_error_code(self) -> None:
        event = _one("deferred", response="400 try again later", attempt="5")
        assert event.delivery.error_code is None
        assert event.metadata["response"] == "400 try again later"
        assert event.metadata["attempt"] == "5"

    def test_without_a_campaign_the_attempt_has_none(self) -> None:
        assert _one("delivered", campaign_id=None).payload.campaign_id is None

    def test_open_is_an_inbound_contact_attempt(self) -> None:
        event = _one("open", useragent="Mozilla/5.0", ip="203.0.113.7", sg_machine_open=False)
        assert event.direction is Direction.INBOUND
        assert event.payload == ContactAttempt(campaign_id="spring-loan", outcome="open")
        assert event.delivery.status == "open"
        assert event.delivery.url is None
        assert event.metadata["useragent"] == "Mozilla/5.0"
        assert event.metadata["ip"] == "203.0.113.7"
        assert event.metadata["sg_machine_open"] == "false"

    def test_click_keeps_the_url(self) -> None:
        event = _one("click", url="https://bank.example/loan", url_offset={"index": 0})
        assert event.direction is Direction.INBOUND
        assert event.payload == ContactAttempt(campaign_id="spring-loan", outcome="click")
        assert event.delivery.status == "click"
        assert event.delivery.url == "https://bank.example/loan"
        assert json.loads(event.metadata["url_offset"]) == {"index": 0}

    @pytest.mark.parametrize("kind", ["unsubscribe", "group_unsubscribe", "spamreport"])
    def test_opt_outs(self, kind: str) -> None:
        event = _one(kind, asm_group_id=42)
        assert event.direction is Direction.INBOUND
        assert event.payload == OptOut(channels=[Channel.EMAIL])
        assert event.delivery.message_id == "14c5d75ce93"
        assert event.delivery.status == kind
        assert event.metadata["asm_group_id"] == "42"
        # The campaign of an opt-out is not the payload's, but it is kept.
        assert event.metadata["campaign_id"] == "spring-loan"

    def test_an_opt_out_without_a_message_id_has_no_delivery(self) -> None:
        event = _one("spamreport", sg_message_id=None)
        assert event.delivery is None
        assert event.payload == OptOut(channels=[Channel.EMAIL])

    def test_identity_times_and_id(self) -> None:
        event = _one("delivered")
        assert event.event_id == "sg-delivered-1"
        assert event.customer.email == "ada@example.com"
        assert event.occurred_at == SENT
        assert event.received_at == NOW

    def test_every_other_field_is_kept_in_metadata(self) -> None:
        event = _one("delivered", tls=1, cert_err=0, ip="198.51.100.1", response="250 OK")
        assert event.metadata["marketing_campaign_name"] == "Spring loans"
        assert json.loads(event.metadata["category"]) == ["welcome", "spring"]
        assert event.metadata["smtp-id"] == "<14c5d75ce93.dfd.64b469@ismtpd-555>"
        assert event.metadata["tls"] == "1"
        assert event.metadata["cert_err"] == "0"
        assert event.metadata["response"] == "250 OK"
        # What became typed fields is not repeated.
        for name in ("email", "event", "timestamp", "sg_event_id"):
            assert name not in event.metadata

    def test_a_batch_keeps_its_order(self) -> None:
        batch = [_event("processed"), _event("delivered"), _event("open")]
        events = sendgrid.events(batch, now=NOW)
        assert [e.event_id for e in events] == ["sg-processed-1", "sg-delivered-1", "sg-open-1"]

    def test_an_empty_batch_is_empty(self) -> None:
        assert sendgrid.events([], now=NOW) == []

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"email": None}, "[1].email"),
            ({"email": "not-an-address"}, "[1].email"),
            ({"sg_event_id": None}, "[1].sg_event_id"),
            ({"sg_event_id": ""}, "[1].sg_event_id"),
            ({"timestamp": None}, "[1].timestamp"),
            ({"timestamp": "yesterday"}, "[1].timestamp"),
            ({"timestamp": {"at": 1}}, "[1].timestamp"),
            ({"event": "teleported"}, "[1].event"),
            ({"event": None}, "[1].event"),
            ({"sg_message_id": None}, "[1].sg_message_id"),
            ({"sg_message_id": ".filter0001"}, "[1].sg_message_id"),
        ],
    )
    def test_one_bad_event_rejects_the_batch_naming_index_and_field(
        self, change: dict[str, Any], field: str
    ) -> None:
        batch = [_event("processed"), _event("delivered", **change), _event("open")]
        with pytest.raises(InputError) as caught:
            sendgrid.events(batch, now=NOW)
        assert caught.value.field == field

    def test_errors_do_not_echo_the_address(self) -> None:
        with pytest.raises(InputError) as caught:
            sendgrid.events([_event("delivered", email="ada lovelace@example.com")], now=NOW)
        assert "ada" not in str(caught.value).lower()

    def test_an_event_that_is_not_an_object(self) -> None:
        with pytest.raises(InputError) as caught:
            sendgrid.events([_event("open"), "open"], now=NOW)
        assert caught.value.field == "[1]"

    def test_the_batch_must_be_a_list(self) -> None:
        with pytest.raises(InputError, match="array"):
            sendgrid.events(_event("open"), now=NOW)


# --- Inbound Parse -----------------------------------------------------------------------

HEADERS = (
    "Received: by mx0047p1mdw1.sendgrid.net with SMTP id 6WCVv7KAWn\n"
    "Date: Mon, 23 Nov 2026 13:05:00 +0300\n"
    "From: Ada Lovelace <Ada@Example.com>\n"
    "To: support@bank.example\n"
    "Message-ID:\n <CAH+w=7=abc123@mail.example.com>\n"
    "In-Reply-To: <offer-17@bank.example>\n"
    "Subject: Re: your loan\n"
)


def _form(**fields: str | None) -> dict[str, str]:
    form: dict[str, str | None] = {
        "headers": HEADERS,
        "dkim": "{@example.com : pass}",
        "to": "support@bank.example",
        "from": "Ada Lovelace <Ada@Example.com>",
        "text": "Yes please, call me tomorrow.",
        "html": "<p>Yes please, call me <b>tomorrow</b>.</p>",
        "sender_ip": "203.0.113.9",
        "envelope": '{"to":["support@bank.example"],"from":"ada@example.com"}',
        "subject": "Re: your loan",
        "charsets": '{"to":"UTF-8","html":"UTF-8","subject":"UTF-8","from":"UTF-8","text":"UTF-8"}',
        "SPF": "pass",
        "attachments": "1",
        "attachment1": '{"filename": "payslip.pdf", "content_type": "application/pdf"}',
    }
    form.update(fields)
    return {k: v for k, v in form.items() if v is not None}


class TestInboundParse:
    def test_a_received_email(self) -> None:
        event = sendgrid.inbound_parse(_form(), now=NOW)
        assert event.channel is Channel.EMAIL
        assert event.direction is Direction.INBOUND
        assert event.payload == Message(text="Yes please, call me tomorrow.")
        assert event.customer.email == "ada@example.com"
        assert event.event_id == "<CAH+w=7=abc123@mail.example.com>"
        assert event.occurred_at == datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
        assert event.received_at == NOW

    def test_other_fields_are_kept(self) -> None:
        metadata = sendgrid.inbound_parse(_form(), now=NOW).metadata
        assert metadata["subject"] == "Re: your loan"
        assert metadata["to"] == "support@bank.example"
        assert metadata["from"] == "Ada Lovelace <Ada@Example.com>"
        assert metadata["SPF"] == "pass"
        assert metadata["sender_ip"] == "203.0.113.9"
        assert json.loads(metadata["envelope"])["from"] == "ada@example.com"
        assert metadata["headers"] == HEADERS
        assert metadata["html"].startswith("<p>")
        assert json.loads(metadata["attachment1"])["filename"] == "payslip.pdf"
        assert metadata["in_reply_to"] == "<offer-17@bank.example>"
        assert "text" not in metadata

    def test_a_bare_sender_address(self) -> None:
        event = sendgrid.inbound_parse(_form(**{"from": "ADA@example.com"}), now=NOW)
        assert event.customer.email == "ada@example.com"

    def test_without_a_date_header_it_is_the_arrival_time(self) -> None:
        headers = HEADERS.replace("Date: Mon, 23 Nov 2026 13:05:00 +0300\n", "")
        assert sendgrid.inbound_parse(_form(headers=headers), now=NOW).occurred_at == NOW

    def test_an_unreadable_date_header_is_the_arrival_time(self) -> None:
        headers = HEADERS.replace("Mon, 23 Nov 2026 13:05:00 +0300", "sometime soon")
        assert sendgrid.inbound_parse(_form(headers=headers), now=NOW).occurred_at == NOW

    def test_html_without_tags_when_there_is_no_text(self) -> None:
        html = (
            "<html><head><style>p {color: red}</style></head><body>"
            "<p>Yes&nbsp;please, call me <b>tomorrow</b>.</p><div>Ada &amp; co</div>"
            "<script>track()</script></body></html>"
        )
        event = sendgrid.inbound_parse(_form(text=None, html=html), now=NOW)
        assert event.payload.text == "Yes please, call me tomorrow.\nAda & co"
        assert "html" not in event.metadata

    def test_without_a_message_id_the_id_is_a_stable_hash(self) -> None:
        headers = HEADERS.replace("Message-ID:\n <CAH+w=7=abc123@mail.example.com>\n", "")
        first = sendgrid.inbound_parse(_form(headers=headers), now=NOW)
        retried = sendgrid.inbound_parse(_form(headers=headers), now=NOW + timedelta(minutes=5))
        other = sendgrid.inbound_parse(_form(headers=headers, text="No thanks"), now=NOW)
        assert first.event_id.startswith("sha256:")
        assert first.event_id == retried.event_id
        assert first.event_id != other.event_id

    def test_long_text_is_cut_not_refused(self) -> None:
        event = sendgrid.inbound_parse(_form(text="x" * 12_345), now=NOW)
        assert event.payload.text == "x" * 10_000
        assert event.metadata["text_full_length"] == "12345"

    def test_no_text_at_all_is_an_empty_message(self) -> None:
        event = sendgrid.inbound_parse(_form(text=None, html=None), now=NOW)
        assert event.payload.text == ""

    @pytest.mark.parametrize("sender", [None, "", "Ada Lovelace", "Ada <not an address>"])
    def test_the_sender_must_be_an_address(self, sender: str | None) -> None:
        with pytest.raises(InputError) as caught:
            sendgrid.inbound_parse(_form(**{"from": sender}), now=NOW)
        assert caught.value.field == "from"
        assert "ada" not in str(caught.value).lower()

    def test_the_raw_mime_option(self) -> None:
        raw = (
            "From: Ada Lovelace <ada@example.com>\n"
            "To: support@bank.example\n"
            "Date: Mon, 23 Nov 2026 13:05:00 +0300\n"
            "Message-ID: <raw-1@mail.example.com>\n"
            "Subject: hello\n"
            "MIME-Version: 1.0\n"
            'Content-Type: multipart/alternative; boundary="b"\n\n'
            "--b\nContent-Type: text/plain; charset=utf-8\n\nEvet, arayın.\n"
            "--b\nContent-Type: text/html; charset=utf-8\n\n<p>Evet, arayın.</p>\n--b--\n"
        )
        form = _form(headers=None, text=None, html=None, email=raw)
        event = sendgrid.inbound_parse(form, now=NOW)
        assert event.event_id == "<raw-1@mail.example.com>"
        assert event.payload.text.strip() == "Evet, arayın."
        assert event.occurred_at == datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
        assert "email" in event.metadata


class TestDecodeForm:
    def test_fields_are_read_in_the_charset_sendgrid_names(self) -> None:
        parts = {
            "charsets": b'{"text": "iso-8859-9", "subject": "UTF-8", "from": "no-such-charset"}',
            "text": "Evet, lütfen arayın. Şimdi.".encode("iso-8859-9"),
            "subject": "Ynt: kredi başvurusu".encode(),
            "from": b"ada@example.com",
            "to": b"\xff broken",
        }
        form = sendgrid.decode_form(parts)
        assert form["text"] == "Evet, lütfen arayın. Şimdi."
        assert form["subject"] == "Ynt: kredi başvurusu"
        assert form["from"] == "ada@example.com"
        assert form["to"] == "\ufffd broken"

    def test_unreadable_charsets_fall_back_to_utf8(self) -> None:
        form = sendgrid.decode_form({"charsets": b"{not json", "text": "ça va".encode()})
        assert form["text"] == "ça va"
