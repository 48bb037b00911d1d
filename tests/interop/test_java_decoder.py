"""The bytes the serializer writes are read by Apache Avro's own Java implementation
(`org.apache.avro.message.BinaryMessageDecoder`), the reference for single-object
encoding: same header, same fingerprint of the same canonical form, same datum layout.

Needs `java` (17+) and `mvn` on PATH; the Avro jars are resolved once into the cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from streams.domain.decisions import DialListEntry, Suppression
from streams.domain.events import CustomerRef, Interaction, OfferPresented
from streams.domain.model import Channel, Direction, SuppressionReason
from streams.wire.serialization import AvroSerializer, SchemaCatalog

AVRO_JAVA_VERSION = "1.12.0"

HERE = Path(__file__).resolve().parent
POM = HERE / "avro-java.pom.xml"
DECODER = HERE / "DecodeSingleObject.java"
COMPLETE_MARKER = ".complete"
MAVEN_TIMEOUT_S = 900
JAVA_TIMEOUT_S = 120

pytestmark = [pytest.mark.interop, pytest.mark.timeout(MAVEN_TIMEOUT_S + 60)]

AT = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
AT_MILLIS = 1_795_428_900_000
DECIDED = datetime(2026, 11, 23, 10, 16, 30, 123000, tzinfo=UTC)
DECIDED_MILLIS = AT_MILLIS + 90_123


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(
            f"`{tool}` was not found on PATH. The Java interop tests need Java 17+ and Maven "
            f"(they resolve org.apache.avro:avro:{AVRO_JAVA_VERSION} with Maven and run "
            f"Apache Avro's Java decoder); install both, they are never skipped.",
            pytrace=False,
        )
    return path


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def avro_java_cache_dir() -> Path:
    base = os.environ.get("TOUCHLINE_CACHE_DIR")
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "touchline"
    return root / f"avro-java-{AVRO_JAVA_VERSION}"


def _resolve_jars(mvn: str) -> Path:
    """The Avro jar directory, resolved with Maven unless a complete copy is cached. Maven
    writes into a temporary sibling that is renamed into place once complete, so the cache
    directory is either complete (it holds the marker) or absent."""
    jar_dir = avro_java_cache_dir()
    if (jar_dir / COMPLETE_MARKER).exists():
        return jar_dir
    jar_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f"{jar_dir.name}.stage-", dir=jar_dir.parent))
    try:
        staged = stage / "jars"
        cmd = [
            mvn,
            "-q",
            "-B",
            "-Dstyle.color=never",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staged}",
            "-DincludeScope=runtime",
        ]
        try:
            result = subprocess.run(
                cmd,
                cwd=stage,
                capture_output=True,
                text=True,
                check=False,
                timeout=MAVEN_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"Maven did not resolve Avro {AVRO_JAVA_VERSION} within {MAVEN_TIMEOUT_S}s",
                pytrace=False,
            )
        if result.returncode != 0:
            pytest.fail(
                f"Maven failed to resolve Avro {AVRO_JAVA_VERSION} (exit {result.returncode}):\n"
                + _tail(result.stdout + result.stderr),
                pytrace=False,
            )
        if not (staged / f"avro-{AVRO_JAVA_VERSION}.jar").exists():
            pytest.fail(f"Maven finished but left no avro-{AVRO_JAVA_VERSION}.jar in {staged}")
        (staged / COMPLETE_MARKER).write_text(AVRO_JAVA_VERSION + "\n")
        if jar_dir.exists() and not (jar_dir / COMPLETE_MARKER).exists():
            shutil.rmtree(jar_dir)  # left over from an interrupted copy made another way
        try:
            staged.rename(jar_dir)
        except OSError:
            # Another run finished first; its copy is as good as ours.
            if not (jar_dir / COMPLETE_MARKER).exists():
                raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return jar_dir


@pytest.fixture(scope="module")
def avro_jars() -> Path:
    _require("java")
    mvn = _require("mvn")
    return _resolve_jars(mvn)


@pytest.fixture(scope="module")
def catalog() -> SchemaCatalog:
    return SchemaCatalog()


def run_java_decoder(
    jars: Path, work_dir: Path, schema_json: str, data: bytes
) -> subprocess.CompletedProcess[str]:
    schema_file = work_dir / "schema.json"
    data_file = work_dir / "data.bin"
    schema_file.write_text(schema_json, encoding="utf-8")
    data_file.write_bytes(data)
    return subprocess.run(
        [
            _require("java"),
            "-cp",
            f"{jars}{os.sep}*",
            str(DECODER),
            str(schema_file),
            str(data_file),
        ],
        cwd=work_dir,
        capture_output=True,
        encoding="utf-8",
        check=False,
        timeout=JAVA_TIMEOUT_S,
    )


def decode_with_java(
    jars: Path, work_dir: Path, catalog: SchemaCatalog, model: BaseModel
) -> dict[str, Any]:
    """Encode `model` with the serializer, decode it with Avro Java, return the record."""
    name = f"touchline.{type(model).__name__}"
    data = AvroSerializer(catalog).encode_model(model)
    result = run_java_decoder(jars, work_dir, catalog.expanded_json[name], data)
    assert result.returncode == 0, (
        f"Avro Java could not decode {name} ({data.hex()}):\n{_tail(result.stderr)}"
    )
    printed = result.stdout.strip()
    try:
        record = json.loads(printed)
    except ValueError:
        pytest.fail(f"Avro Java printed something that is not a record:\n{printed}")
    assert isinstance(record, dict), printed
    return record


def test_interaction_is_readable_by_avro_java(
    avro_jars: Path, tmp_path: Path, catalog: SchemaCatalog
) -> None:
    event = Interaction(
        event_id="e-1",
        occurred_at=AT,
        channel=Channel.SMS,
        direction=Direction.OUTBOUND,
        customer=CustomerRef(customer_id="c-42", phone="+905321234567"),
        payload=OfferPresented(campaign_id="spring-loan", offer_id="o-1"),
        metadata={"city": "İzmir"},
    )
    record = decode_with_java(avro_jars, tmp_path, catalog, event)
    assert record["event_id"] == "e-1"
    assert record["occurred_at"] == AT_MILLIS
    assert record["received_at"] is None
    assert record["channel"] == "SMS"
    assert record["direction"] == "OUTBOUND"
    assert record["customer"] == {
        "customer_id": "c-42",
        "phone": "+905321234567",
        "email": None,
        "account": None,
        "device": None,
        "social": None,
    }
    assert record["payload"] == {"campaign_id": "spring-loan", "offer_id": "o-1"}
    assert record["metadata"] == {"city": "İzmir"}


def test_suppression_is_readable_by_avro_java(
    avro_jars: Path, tmp_path: Path, catalog: SchemaCatalog
) -> None:
    suppression = Suppression(
        suppression_id="s-1",
        campaign_id="spring-loan",
        customer_id="c-42",
        reason=SuppressionReason.OFFER_ACCEPTED,
        channels=(Channel.VOICE, Channel.SMS),
        source_event_id="e-2",
        source_channel=Channel.SMS,
        policy="sms-reply-correlation/v1",
        occurred_at=AT,
        decided_at=DECIDED,
    )
    record = decode_with_java(avro_jars, tmp_path, catalog, suppression)
    assert record == {
        "suppression_id": "s-1",
        "campaign_id": "spring-loan",
        "customer_id": "c-42",
        "reason": "OFFER_ACCEPTED",
        "channels": ["VOICE", "SMS"],
        "source_event_id": "e-2",
        "source_channel": "SMS",
        "policy": "sms-reply-correlation/v1",
        "occurred_at": AT_MILLIS,
        "decided_at": DECIDED_MILLIS,
        "action": "SUPPRESSED",
        "until": None,
        "rule": None,
        "policy_version": None,
    }


def test_dial_list_entry_is_readable_by_avro_java(
    avro_jars: Path, tmp_path: Path, catalog: SchemaCatalog
) -> None:
    entry = DialListEntry(
        campaign_id="spring-loan",
        customer_id="c-42",
        phone="+905321234567",
        priority=3,
        added_at=AT,
        source_id="u-1",
    )
    record = decode_with_java(avro_jars, tmp_path, catalog, entry)
    assert record == {
        "campaign_id": "spring-loan",
        "customer_id": "c-42",
        "phone": "+905321234567",
        "priority": 3,
        "added_at": AT_MILLIS,
        "source_id": "u-1",
    }


def test_avro_java_rejects_a_wrong_fingerprint(
    avro_jars: Path, tmp_path: Path, catalog: SchemaCatalog
) -> None:
    """The Java decoder really checks the fingerprint, so the tests above prove ours."""
    entry = DialListEntry(campaign_id="k", customer_id="c", added_at=AT, source_id="u")
    data = AvroSerializer(catalog).encode_model(entry)
    forged = data[:2] + data[2:10][::-1] + data[10:]  # big-endian: a classic mistake
    name = "touchline.DialListEntry"
    result = run_java_decoder(avro_jars, tmp_path, catalog.expanded_json[name], forged)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "MissingSchemaException" in result.stderr
    # The decoder reports the schema's fingerprint as Java computes it: ours.
    assert catalog.fingerprints[name].hex() in result.stderr
