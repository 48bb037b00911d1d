"""Batch mappings: how CSV rows from branch and ATM exports become interactions."""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from streams.adapters.batch import EXAMPLES, Mapping, MappingError, load_mapping, parse_mapping
from streams.adapters.native import InputError
from streams.cli import main as cli
from streams.cli import publish
from streams.config import Settings
from streams.domain.events import (
    Complaint,
    ContactAttempt,
    Interaction,
    Message,
    OfferPresented,
    OfferResponse,
    OptOut,
    ProfileUpdate,
    Purchase,
)
from streams.domain.model import Channel, Direction, OfferResponseKind
from streams.wire.serialization import AvroSerializer

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
DATA = Path(__file__).resolve().parents[1] / "data"

BASE = """
channel = "BRANCH"
direction = "INBOUND"
event_id = "branch-{branch_id}-{visit_id}"
occurred_at = { column = "visit_time", timezone = "Europe/Istanbul" }
region = "TR"
[customer]
phone = "mobile"
email = "email"
account = "account_no"
"""
CONTACT = BASE + '[payload]\ntype = "ContactAttempt"\noutcome = "{purpose}"\n'


def mapping(text: str = CONTACT) -> Mapping:
    return parse_mapping(text, name="test.toml")


def row(**cells: str) -> dict[str, str]:
    base = {
        "branch_id": "IST-1",
        "visit_id": "42",
        "visit_time": "2026-11-23 09:00",
        "mobile": "+905321234567",
        "email": "",
        "account_no": "",
        "purpose": "card_pickup",
    }
    return {**base, **cells}


def payload_mapping(payload: str, base: str = BASE) -> Mapping:
    return mapping(base + "[payload]\n" + payload)


def rejection(m: Mapping, cells: dict[str, str]) -> InputError:
    with pytest.raises(InputError) as caught:
        m.row(cells, now=NOW)
    return caught.value


# -- loading ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (CONTACT + "colour = 'blue'\n", "colour: unknown key"),
        ('colour = "blue"\n' + CONTACT, "colour: unknown key"),
        (CONTACT.replace("[customer]", "[customer]\nmsisdn = 'mobile'"), "customer.msisdn"),
        (BASE + '[payload]\ntype = "Telegram"\n', "'Telegram' is not a payload type"),
        (BASE + "[payload]\noutcome = 'x'\n", "payload.type: is required"),
        (BASE + '[payload]\ntype = "ContactAttempt"\n', "payload.outcome: is required"),
        (CONTACT + "mood = 'x'\n", "payload.mood: unknown key"),
        (CONTACT.replace("Europe/Istanbul", "Europe/Atlantis"), "not a time zone"),
        (CONTACT.replace('"BRANCH"', '"FAX"'), "channel: 'FAX' is not one of"),
        (CONTACT.replace('"INBOUND"', '"SIDEWAYS"'), "direction: 'SIDEWAYS'"),
        (CONTACT.replace('"TR"', '"XX"'), "region:"),
        (CONTACT.replace('"{purpose}"', '"{purpose"'), "unmatched '{'"),
        (CONTACT.replace('"{purpose}"', '"{}"'), "empty {}"),
        (CONTACT.replace('"branch-{branch_id}-{visit_id}"', '"visit"'), "event_id: must name"),
        (CONTACT.replace("event_id =", "# event_id ="), "event_id: is required"),
        (CONTACT.replace('region = "TR"', 'delimiter = ";;"'), "delimiter"),
        (CONTACT.replace("[customer]", "[nobody]"), "nobody: unknown key"),
        ("[customer\n", "not valid TOML"),
        (
            CONTACT.replace(
                '{ column = "visit_time", timezone = "Europe/Istanbul" }',
                '{ column = "visit_time", format = "%d.%m.%Y %H:%M" }',
            ),
            "give a timezone",
        ),
        (
            CONTACT.replace('timezone = "Europe/Istanbul"', 'zone = "Europe/Istanbul"'),
            "occurred_at.zone: unknown key",
        ),
    ],
)
def test_a_wrong_mapping_is_refused_when_loaded(text: str, says: str) -> None:
    with pytest.raises(MappingError, match=r"^test\.toml: ") as caught:
        mapping(text)
    assert says in str(caught.value)


def test_a_mapping_without_customer_is_refused() -> None:
    text = CONTACT[: CONTACT.index("[customer]")] + '[payload]\ntype = "Message"\ntext = "x"\n'
    with pytest.raises(MappingError, match=r"\[customer\]: is required"):
        mapping(text)


def test_a_mapping_file_that_cannot_be_read_names_it(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="cannot read the mapping"):
        load_mapping(tmp_path / "missing.toml")


def test_the_header_must_have_every_column_the_mapping_names() -> None:
    m = mapping()
    m.check_header(list(row()))
    with pytest.raises(MappingError) as caught:
        m.check_header([c for c in row() if c != "visit_time"])
    assert "'visit_time' (for occurred_at)" in str(caught.value)


def test_a_header_naming_a_column_twice_is_refused() -> None:
    with pytest.raises(MappingError, match="'mobile' twice"):
        mapping().check_header([*row(), "mobile"])


def test_a_wrong_delimiter_is_hinted_at() -> None:
    with pytest.raises(MappingError, match="delimiter"):
        mapping().check_header([";".join(row())])


# -- templates and values ----------------------------------------------------------------


def test_a_row_becomes_an_interaction_received_now() -> None:
    event = mapping().row(row(), now=NOW)
    assert event == Interaction(
        event_id="branch-IST-1-42",
        occurred_at=datetime(2026, 11, 23, 6, 0, tzinfo=UTC),
        received_at=NOW,
        channel=Channel.BRANCH,
        direction=Direction.INBOUND,
        customer={"phone": "+905321234567"},  # type: ignore[arg-type]
        payload=ContactAttempt(outcome="card_pickup"),
        metadata={"branch_id": "IST-1", "visit_id": "42"},
    )


def test_templates_mix_text_and_cells_and_escape_braces() -> None:
    m = payload_mapping(
        'type = "Message"\ntext = "{{{purpose}}} at {branch_id}, visit {visit_id}"\n'
    )
    event = m.row(row(), now=NOW)
    assert event.payload == Message(text="{card_pickup} at IST-1, visit 42")


def test_cells_are_trimmed() -> None:
    event = mapping().row(row(purpose="  card_pickup  ", visit_id=" 42 "), now=NOW)
    assert event.event_id == "branch-IST-1-42"
    assert event.payload == ContactAttempt(outcome="card_pickup")


def test_an_empty_cell_leaves_an_optional_field_out() -> None:
    m = mapping(CONTACT + 'campaign_id = "{campaign}"\n')
    assert m.row(row(campaign="spring-loan"), now=NOW).payload == ContactAttempt(
        campaign_id="spring-loan", outcome="card_pickup"
    )
    assert m.row(row(campaign=""), now=NOW).payload == ContactAttempt(outcome="card_pickup")


def test_an_empty_cell_a_required_field_needs_names_the_column() -> None:
    error = rejection(mapping(), row(purpose=" "))
    assert error.field == "purpose"
    assert "payload.outcome" in error.message
    assert rejection(mapping(), row(visit_id="")).field == "visit_id"


def test_a_values_table_maps_codes_and_refuses_unknown_ones() -> None:
    m = payload_mapping(
        'type = "ContactAttempt"\n'
        '[payload.outcome]\ncolumn = "purpose"\ndefault = "walk_in"\n'
        "values = { WDL = 'withdrawal', BAL = 'balance_inquiry' }\n"
    )
    assert m.row(row(purpose="WDL"), now=NOW).payload == ContactAttempt(outcome="withdrawal")
    assert m.row(row(purpose=""), now=NOW).payload == ContactAttempt(outcome="walk_in")
    error = rejection(m, row(purpose="XYZ"))
    assert error.field == "purpose"
    assert "WDL, BAL" in error.message
    assert "XYZ" not in str(error)  # cells are not echoed: they may be personal data


def test_channel_and_direction_may_come_from_columns() -> None:
    text = CONTACT.replace(
        'channel = "BRANCH"', 'channel = { column = "where", values = { B = "BRANCH", A = "ATM" } }'
    ).replace('direction = "INBOUND"', 'direction = "{way}"')
    m = mapping(text)
    event = m.row(row(where="A", way="OUTBOUND"), now=NOW)
    assert (event.channel, event.direction) == (Channel.ATM, Direction.OUTBOUND)
    assert rejection(m, row(where="B", way="UP")).field == "way"
    with pytest.raises(MappingError, match="'POST' is not one of"):
        mapping(text.replace('A = "ATM"', 'A = "POST"'))


# -- time zones ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("2026-11-23 09:00", datetime(2026, 11, 23, 6, 0, tzinfo=UTC)),
        ("2026-11-23T09:00:00", datetime(2026, 11, 23, 6, 0, tzinfo=UTC)),
        ("2026-11-23T09:00:00Z", datetime(2026, 11, 23, 9, 0, tzinfo=UTC)),  # zone wins
        ("2026-11-23T09:00:00+01:00", datetime(2026, 11, 23, 8, 0, tzinfo=UTC)),
        ("1795413600", datetime(2026, 11, 23, 6, 0, tzinfo=UTC)),  # Unix seconds
    ],
)
def test_naive_times_are_read_in_the_mapping_zone(cell: str, expected: datetime) -> None:
    assert mapping().row(row(visit_time=cell), now=NOW).occurred_at == expected


def test_the_zone_follows_daylight_saving_time() -> None:
    m = mapping(CONTACT.replace("Europe/Istanbul", "Europe/Berlin"))
    summer = m.row(row(visit_time="2026-07-01 09:00"), now=NOW).occurred_at
    winter = m.row(row(visit_time="2026-12-01 09:00"), now=NOW).occurred_at
    assert (summer.hour, winter.hour) == (7, 8)


def test_a_strptime_format_reads_local_exports() -> None:
    m = mapping(
        CONTACT.replace(
            'timezone = "Europe/Istanbul"',
            'timezone = "Europe/Istanbul", format = "%d.%m.%Y %H:%M"',
        )
    )
    assert m.row(row(visit_time="23.11.2026 09:00"), now=NOW).occurred_at == datetime(
        2026, 11, 23, 6, 0, tzinfo=UTC
    )
    error = rejection(m, row(visit_time="2026-11-23 09:00"))
    assert error.field == "visit_time"
    assert "%d.%m.%Y %H:%M" in error.message


def test_a_format_with_an_offset_needs_no_timezone() -> None:
    m = mapping(
        CONTACT.replace(
            '{ column = "visit_time", timezone = "Europe/Istanbul" }',
            '{ column = "visit_time", format = "%Y-%m-%d %H:%M %z" }',
        )
    )
    assert m.row(row(visit_time="2026-11-23 09:00 +0300"), now=NOW).occurred_at.hour == 6


def test_a_time_from_two_columns() -> None:
    m = mapping(
        CONTACT.replace(
            '{ column = "visit_time", timezone = "Europe/Istanbul" }',
            '{ template = "{day}T{clock}", timezone = "Europe/Istanbul" }',
        )
    )
    cells = row(day="2026-11-23", clock="09:00")
    del cells["visit_time"]
    event = m.row(cells, now=NOW)
    assert event.occurred_at == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    assert "day" not in event.metadata
    assert rejection(m, {**cells, "clock": "nine"}).field == "day, clock"


def test_a_naive_time_without_a_zone_names_the_column() -> None:
    m = mapping(CONTACT.replace(', timezone = "Europe/Istanbul"', ""))
    error = rejection(m, row())
    assert error.field == "visit_time"
    assert "timezone" in error.message
    assert m.row(row(visit_time="2026-11-23T09:00:00+03:00"), now=NOW).occurred_at.hour == 6


def test_a_cell_that_is_no_time_names_the_column() -> None:
    assert rejection(mapping(), row(visit_time="yesterday")).field == "visit_time"
    assert rejection(mapping(), row(visit_time="")).field == "visit_time"


# -- identities ----------------------------------------------------------------------


def test_identities_are_normalised() -> None:
    event = mapping().row(
        row(mobile="0532 123 45 67", email=" Ayse.Yilmaz@Example.COM ", account_no="tr-1001 0042"),
        now=NOW,
    )
    assert event.customer.phone == "+905321234567"
    assert event.customer.email == "ayse.yilmaz@example.com"
    assert event.customer.account == "TR10010042"


def test_the_mapping_region_wins_over_the_hub_default() -> None:
    tr = mapping().with_default_region("DE")
    assert tr.row(row(mobile="0532 123 45 67"), now=NOW).customer.phone == "+905321234567"
    regionless = mapping(CONTACT.replace('region = "TR"', ""))
    error = rejection(regionless, row(mobile="0532 123 45 67"))
    assert error.field == "mobile"
    defaulted = regionless.with_default_region("TR")
    assert defaulted.row(row(mobile="0532 123 45 67"), now=NOW).customer.phone == "+905321234567"


def test_a_bad_identity_names_the_column_and_not_the_value() -> None:
    error = rejection(mapping(), row(mobile="12345"))
    assert error.field == "mobile"
    assert "12345" not in str(error)
    assert rejection(mapping(), row(email="not-an-address")).field == "email"
    assert rejection(mapping(), row(account_no="№ 5")).field == "account_no"


def test_a_row_without_any_identity_names_the_identity_columns() -> None:
    error = rejection(mapping(), row(mobile="", email="", account_no=""))
    assert error.field == "mobile, email, account_no"


def test_customer_columns_may_be_templates() -> None:
    m = mapping(
        BASE.replace("[customer]", '[customer]\ncustomer_id = "crm-{cust}"')
        + ('[payload]\ntype = "ContactAttempt"\noutcome = "{purpose}"\n')
    )
    event = m.row(row(cust="77"), now=NOW)
    assert event.customer.customer_id == "crm-77"
    assert "cust" not in event.metadata


# -- metadata ------------------------------------------------------------------------


def test_every_unused_column_is_kept_as_metadata() -> None:
    cells = row(
        served_by="teller-7", wait_minutes="12", note="", comment="  ", **{"Şube Adı": "Kadıköy"}
    )
    event = mapping().row(cells, now=NOW)
    # event_id's columns are kept too: an id is a key, not a place to store data.
    assert event.metadata == {
        "branch_id": "IST-1",
        "visit_id": "42",
        "served_by": "teller-7",
        "wait_minutes": "12",
        "Şube Adı": "Kadıköy",
    }
    used = {"visit_time", "mobile", "email", "account_no", "purpose"}
    assert not used & set(event.metadata)


# -- payload types -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "cells", "expected"),
    [
        (
            'type = "OfferPresented"\ncampaign_id = "{campaign}"\noffer_id = "{offer}"\n',
            {"campaign": "spring-loan", "offer": ""},
            OfferPresented(campaign_id="spring-loan"),
        ),
        (
            'type = "OfferResponse"\ncampaign_id = "spring-loan"\n'
            "response = { column = 'answer', values = { Y = 'ACCEPTED', N = 'DECLINED' } }\n",
            {"answer": "N"},
            OfferResponse(campaign_id="spring-loan", response=OfferResponseKind.DECLINED),
        ),
        ('type = "Message"\ntext = "{note}"\n', {"note": "Merhaba"}, Message(text="Merhaba")),
        (
            'type = "Complaint"\ncategory = "{category}"\nseverity = "high"\ntext = "{note}"\n',
            {"category": "queue", "note": ""},
            Complaint(category="queue", severity="high"),
        ),
        (
            'type = "ContactAttempt"\ncampaign_id = "{campaign}"\noutcome = "visited"\n',
            {"campaign": "card-upgrade"},
            ContactAttempt(campaign_id="card-upgrade", outcome="visited"),
        ),
        (
            'type = "Purchase"\namount = "{amount}"\ncurrency = "{currency}"\n'
            'product = "{product}"\n',
            {"amount": "1250.50", "currency": "TRY", "product": "bill:electricity"},
            Purchase(amount=Decimal("1250.50"), currency="TRY", product="bill:electricity"),
        ),
        (
            'type = "Purchase"\namount = 100\n'
            'currency = { column = "currency", default = "TRY" }\n',
            {"currency": ""},
            Purchase(amount=Decimal(100), currency="TRY"),
        ),
        (
            'type = "ProfileUpdate"\nfields = ["new_address", "new_email"]\n',
            {"new_address": "Moda Cd. 1", "new_email": ""},
            ProfileUpdate(fields={"new_address": "Moda Cd. 1"}),
        ),
        (
            'type = "ProfileUpdate"\n[payload.fields]\naddress = "{street}, {city}"\n'
            'language = "tr"\n',
            {"street": "Moda Cd. 1", "city": "İstanbul"},
            ProfileUpdate(fields={"address": "Moda Cd. 1, İstanbul", "language": "tr"}),
        ),
        (
            'type = "OptOut"\nchannels = "{channels}"\n',
            {"channels": "SMS; VOICE"},
            OptOut(channels=[Channel.SMS, Channel.VOICE]),
        ),
        ('type = "OptOut"\nchannels = "{channels}"\n', {"channels": ""}, OptOut(channels=[])),
        (
            'type = "OptOut"\nchannels = ["SMS", "{second}"]\n',
            {"second": "EMAIL"},
            OptOut(channels=[Channel.SMS, Channel.EMAIL]),
        ),
    ],
)
def test_every_payload_type_can_be_mapped(
    payload: str, cells: dict[str, str], expected: Any
) -> None:
    m = payload_mapping(payload)
    m.check_header([*row(), *cells])
    event = m.row(row(**cells), now=NOW)
    assert event.payload == expected
    assert not set(cells) & set(event.metadata)


@pytest.mark.parametrize(
    ("cells", "column", "field"),
    [
        ({"amount": "12,50", "currency": "TRY"}, "amount", "payload.amount"),
        ({"amount": "12.50", "currency": "try"}, "currency", "payload.currency"),
    ],
)
def test_a_payload_field_error_names_the_column(
    cells: dict[str, str], column: str, field: str
) -> None:
    m = payload_mapping('type = "Purchase"\namount = "{amount}"\ncurrency = "{currency}"\n')
    error = rejection(m, row(**cells))
    assert error.field == column
    assert field in error.message


def test_an_opt_out_channel_that_is_no_channel_names_the_column() -> None:
    m = payload_mapping('type = "OptOut"\nchannels = "{channels}"\n')
    assert rejection(m, row(channels="SMS,PIGEON")).field == "channels"


def test_a_literal_payload_error_names_the_mapping_key() -> None:
    m = payload_mapping('type = "Purchase"\namount = "{amount}"\ncurrency = "lira"\n')
    error = rejection(m, row(amount="1"))
    assert error.field == "payload.currency"


# -- the shipped examples ------------------------------------------------------------


def rows_of(path: Path, m: Mapping) -> list[tuple[int, dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=m.delimiter)
        assert reader.fieldnames is not None
        m.check_header(reader.fieldnames)
        return [(reader.line_num, r) for r in reader]


@pytest.mark.parametrize(
    ("name", "bad_line", "bad_column"),
    [("branch-visits", 5, "mobile"), ("atm-transactions", 5, "txn_time")],
)
def test_the_shipped_mappings_map_their_example_files(
    name: str, bad_line: int, bad_column: str
) -> None:
    m = load_mapping(EXAMPLES / f"{name}.toml")
    serializer = AvroSerializer()
    good: list[Interaction] = []
    for line, cells in rows_of(DATA / f"{name}.csv", m):
        if line == bad_line:
            assert rejection(m, cells).field == bad_column
            continue
        event = m.row(cells, now=NOW)
        assert serializer.decode_model(serializer.encode_model(event)) == event
        # Nothing dropped: every non-empty cell is mapped or kept as it was.
        for column, cell in cells.items():
            assert column in m.columns or event.metadata.get(column) == cell or not cell.strip()
        good.append(event)
    assert len(good) == 4
    assert len({e.event_id for e in good}) == 4


def test_the_branch_example_reads_local_istanbul_time() -> None:
    m = load_mapping(EXAMPLES / "branch-visits.toml")
    (_, first), *_ = rows_of(DATA / "branch-visits.csv", m)
    event = m.row(first, now=NOW)
    assert event.occurred_at == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    assert event.channel is Channel.BRANCH
    assert event.customer.phone == "+905321234567"
    assert event.customer.email == "ayse.yilmaz@example.com"
    assert event.payload == ContactAttempt(campaign_id="spring-loan", outcome="loan_application")
    assert event.metadata == {
        "branch_id": "IST-KDK",
        "visit_id": "100231",
        "served_by": "teller-07",
        "wait_minutes": "12",
    }


def test_the_atm_example_keeps_amounts_in_metadata() -> None:
    m = load_mapping(EXAMPLES / "atm-transactions.toml")
    (_, first), *_ = rows_of(DATA / "atm-transactions.csv", m)
    event = m.row(first, now=NOW)
    assert event.channel is Channel.ATM
    assert event.payload == ContactAttempt(outcome="withdrawal")
    assert event.metadata["amount"] == "1500.00"
    assert event.metadata["currency"] == "TRY"
    assert event.occurred_at == datetime(2026, 11, 23, 6, 0, 5, tzinfo=UTC)


def test_the_examples_ship_in_the_package() -> None:
    assert {p.name for p in EXAMPLES.glob("*.toml")} >= {
        "branch-visits.toml",
        "atm-transactions.toml",
    }
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"adapters/mappings/*.toml"' in pyproject


# -- publishing a CSV file (the producer replaced; the broker path is in integration) --


@dataclass
class FakeProducer:
    settings: Settings
    sent: list[Interaction]
    started: bool = False

    async def __aenter__(self) -> FakeProducer:
        self.started = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    async def send_many(self, events: Iterable[Interaction]) -> list[str]:
        batch = list(events)
        self.sent.extend(batch)
        return [e.event_id for e in batch]


@pytest.fixture
def producers(monkeypatch: pytest.MonkeyPatch) -> list[FakeProducer]:
    made: list[FakeProducer] = []

    def make(*, source: str, settings: Settings | None) -> FakeProducer:
        producer = FakeProducer(settings or Settings.from_env({}), [])
        made.append(producer)
        return producer

    monkeypatch.setattr(publish, "TouchlineProducer", make)
    return made


async def test_publish_csv_reports_rejects_by_file_line(
    producers: list[FakeProducer], tmp_path: Path
) -> None:
    source = tmp_path / "visits.csv"
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["branch_id", "visit_id", "visit_time", "mobile", "email", "account_no",
                     "purpose", "note"])  # fmt: skip
    writer.writerow(["IST-1", "1", "2026-11-23 09:00", "+905321234567", "", "", "visit", ""])
    writer.writerow(["IST-1", "2", "2026-11-23 09:05", "12345", "", "", "visit", ""])  # line 3
    writer.writerow(["IST-1", "3", "2026-11-23 09:10", "+905321234567", "", "", "visit",
                     "two\nlines"])  # fmt: skip
    writer.writerow(["IST-1", "4", "2026-11-23 09:15", "+905321234567", "", "", "", ""])  # 6
    writer.writerow([""] * 8)  # a row of empty cells: skipped
    writer.writerow(["IST-1", "5", "2026-11-23 09:20"])  # line 8: too few cells
    writer.writerow(["IST-1", "6", "2026-11-23 09:20", "+905321234567", "", "", "x", "", "y"])
    writer.writerow(["IST-1", "7", "2026-11-23 09:25", "+905321234567", "", "", "visit", "ok"])
    source.write_text("\ufeff" + out.getvalue(), encoding="utf-8")

    report = await publish.publish_csv(source, mapping(), Settings.from_env({}))

    assert report.accepted == 3
    assert [line for line, _ in report.rejected] == [3, 6, 8, 9]
    reasons = dict(report.rejected)
    assert reasons[3].startswith("mobile:")
    assert reasons[6].startswith("purpose:")
    assert reasons[8] == "has 3 cells but the header has 8"
    assert reasons[9] == "has 9 cells but the header has 8"
    (producer,) = producers
    assert [e.event_id for e in producer.sent] == [
        "branch-IST-1-1",
        "branch-IST-1-3",
        "branch-IST-1-7",
    ]
    assert producer.sent[1].metadata["note"] == "two\nlines"


async def test_publish_csv_checks_the_header_before_connecting(
    producers: list[FakeProducer], tmp_path: Path
) -> None:
    source = tmp_path / "visits.csv"
    source.write_text("branch_id,visit_id\nIST-1,1\n", encoding="utf-8")
    with pytest.raises(MappingError, match="visit_time"):
        await publish.publish_csv(source, mapping())
    assert not producers


async def test_publish_csv_uses_the_hub_region_when_the_mapping_has_none(
    producers: list[FakeProducer], tmp_path: Path
) -> None:
    source = tmp_path / "visits.csv"
    source.write_text(
        "branch_id,visit_id,visit_time,mobile,email,account_no,purpose\n"
        "IST-1,1,2026-11-23 09:00,0532 123 45 67,,,visit\n",
        encoding="utf-8",
    )
    regionless = mapping(CONTACT.replace('region = "TR"', ""))
    settings = Settings.from_env({"TOUCHLINE_DEFAULT_REGION": "TR"})
    report = await publish.publish_csv(source, regionless, settings)
    assert report.accepted == 1
    assert producers[0].sent[0].customer.phone == "+905321234567"


async def test_publish_csv_refuses_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    source = tmp_path / "visits.csv"
    source.write_bytes("branch_id,şube\n".encode("cp1254"))
    with pytest.raises(publish.SourceFileError, match="UTF-8"):
        await publish.publish_csv(source, mapping())


# -- the command line (errors found before the broker is contacted) -------------------


def test_cli_csv_without_a_mapping_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli.main(["publish", str(DATA / "branch-visits.csv")]) == 2
    err = capsys.readouterr().err
    assert "--mapping" in err
    assert str(EXAMPLES) in err


def test_cli_mapping_is_for_csv_only(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text("")
    mapping_file = EXAMPLES / "branch-visits.toml"
    assert cli.main(["publish", str(source), "--mapping", str(mapping_file)]) == 2
    assert "CSV files only" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("csv_name", "mapping_text", "says"),
    [
        ("branch-visits.csv", 'channel = "FAX"\n', "direction: is required"),
        ("branch-visits.csv", None, "lacks columns"),  # the ATM mapping on branch visits
        ("missing.csv", None, "cannot read"),
    ],
)
def test_cli_mapping_and_file_errors_exit_2_before_publishing(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    csv_name: str,
    mapping_text: str | None,
    says: str,
) -> None:
    mapping_file = EXAMPLES / "atm-transactions.toml"
    if mapping_text is not None:
        mapping_file = tmp_path / "mapping.toml"
        mapping_file.write_text(mapping_text)
    source = DATA / csv_name
    # --format given explicitly works as well as the .csv suffix.
    code = cli.main(["publish", str(source), "--format", "csv", "--mapping", str(mapping_file)])
    assert code == 2
    assert says in capsys.readouterr().err


def test_the_readme_shows_the_shipped_branch_mapping() -> None:
    readme = (Path(__file__).resolve().parents[2] / "docs" / "adapters.md").read_text(
        encoding="utf-8"
    )
    section = readme.split("**Branch and ATM files.**", 1)[1]
    block = section.split("```toml\n", 1)[1].split("```", 1)[0]
    shipped = Path(__file__).resolve().parents[2] / "streams/adapters/mappings/branch-visits.toml"
    assert tomllib.loads(block) == tomllib.loads(shipped.read_text(encoding="utf-8"))
