"""The `touchline` command: up, worker, kafka, publish, tail, customer, why, policy, dnc."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib.metadata
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streams.cli.publish import PublishReport
    from streams.config import Settings


def settings_for(args: argparse.Namespace) -> Settings:
    """The TOUCHLINE_* environment, with the command's flags over it."""
    from streams.config import Settings

    settings = Settings.from_env()
    flags: dict[str, Any] = {}
    if getattr(args, "broker", None):
        flags["broker"] = args.broker
    if getattr(args, "web_port", None):
        flags["web_port"] = args.web_port
    if getattr(args, "data_dir", None):
        flags["data_dir"] = Path(args.data_dir).resolve()
    return dataclasses.replace(settings, **flags)


def client_key(settings: Settings) -> str | None:
    """The key the CLI sends: TOUCHLINE_API_KEY, else the first key of
    TOUCHLINE_API_KEYS given in clear (a digest cannot be sent)."""
    given = os.environ.get("TOUCHLINE_API_KEY")
    return given or next((k.secret for k in settings.api_keys if k.secret), None)


def _local_kafka(settings: Settings) -> Any:
    from streams.kafka.local import LocalKafka

    return LocalKafka(data_dir=settings.data_dir, port=settings.kafka_port)


def cmd_kafka(args: argparse.Namespace) -> int:
    from streams.kafka.local import LocalKafkaError

    kafka = _local_kafka(args.settings)
    try:
        if args.action == "start":
            kafka.start()
            print(f"Kafka {kafka.status()['kafka_version']} is running on {kafka.bootstrap}")
        elif args.action == "stop":
            print("stopped" if kafka.stop() else "Kafka was not running")
        else:
            status = kafka.status()
            print(json.dumps(status, default=str, indent=2))
            return 0 if status["running"] else 3
    except LocalKafkaError as exc:
        print(f"touchline: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from streams.kafka.local import LocalKafkaError

    settings = args.settings
    kafka = None
    if not settings.broker:
        kafka = _local_kafka(settings)
        try:
            kafka.start()
        except LocalKafkaError as exc:
            print(f"touchline: {exc}", file=sys.stderr)
            return 2
        print(f"Kafka running on {kafka.bootstrap} (data in {settings.data_dir / 'kafka'})")
    print(
        f"Touchline API on http://{settings.web_host}:{settings.web_port} "
        f"(broker {settings.bootstrap_servers}); Ctrl-C stops everything"
    )
    try:
        from streams.cli.worker import run_worker

        run_worker(settings, args.loglevel)
    except KeyboardInterrupt:
        pass
    finally:
        if kafka is not None:
            kafka.stop()
            print("Kafka stopped")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.cli.worker import run_worker

    run_worker(args.settings, args.loglevel)
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    path = Path(args.file)
    file_format = args.format or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    if file_format == "csv":
        return _publish_csv(path, args.mapping, args.settings)
    if args.mapping is not None:
        print("touchline: --mapping applies to CSV files only (--format csv)", file=sys.stderr)
        return 2

    from streams.cli.publish import publish_file

    report = asyncio.run(publish_file(path, args.settings))
    return _publish_report(report)


def _publish_csv(path: Path, mapping_path: Path | None, settings: Settings) -> int:
    from streams.adapters.batch import EXAMPLES, MappingError, load_mapping
    from streams.cli.publish import SourceFileError, publish_csv

    if mapping_path is None:
        print(
            "touchline: a CSV file needs --mapping MAPPING.toml, saying how each row becomes "
            f"an interaction (documented examples: {EXAMPLES})",
            file=sys.stderr,
        )
        return 2
    try:
        report = asyncio.run(publish_csv(path, load_mapping(mapping_path), settings))
    except (MappingError, SourceFileError) as exc:
        print(f"touchline: {exc}", file=sys.stderr)
        return 2
    return _publish_report(report)


def _publish_report(report: PublishReport) -> int:
    for line_number, reason in report.rejected:
        print(f"line {line_number}: {reason}", file=sys.stderr)
    print(f"accepted {report.accepted}, rejected {len(report.rejected)}")
    return 0 if not report.rejected else 1


def cmd_tail(args: argparse.Namespace) -> int:
    from streams.cli.tail import tail

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            tail(
                args.topic,
                from_beginning=args.from_beginning,
                limit=args.max,
                idle_timeout=args.idle_timeout,
                settings=args.settings,
            )
        )
    return 0


def cmd_customer(args: argparse.Namespace) -> int:
    settings = args.settings
    url = args.url or f"http://{settings.web_host}:{settings.web_port}"
    request = urllib.request.Request(f"{url}/v1/customers/{urllib.parse.quote(args.id, safe='')}")
    key = client_key(settings)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            print(json.dumps(json.loads(response.read()), indent=2, ensure_ascii=False))
            return 0
    except urllib.error.HTTPError as exc:
        print(f"touchline: {exc.code} {exc.read().decode(errors='replace')}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(f"touchline: cannot reach the hub at {url}: {exc.reason}", file=sys.stderr)
        return 2


def _hub_url(args: argparse.Namespace) -> str:
    settings = args.settings
    return str(args.url or f"http://{settings.web_host}:{settings.web_port}").rstrip("/")


def _call_hub(
    url: str, method: str, path: str, body: bytes | None = None, content_type: str = ""
) -> Any:
    """One call to the hub's API with `TOUCHLINE_API_KEY` (if set); the decoded JSON
    answer. Raises urllib's HTTPError for an error answer, URLError when unreachable."""
    from streams.config import Settings

    request = urllib.request.Request(f"{url}{path}", data=body, method=method)
    if content_type:
        request.add_header("Content-Type", content_type)
    key = client_key(Settings.from_env())
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def _hub_error(url: str, exc: urllib.error.URLError) -> int:
    """Say what went wrong with a call to the hub: 1 for an error answer, 2 unreachable."""
    if isinstance(exc, urllib.error.HTTPError):
        text = exc.read().decode(errors="replace")
        with contextlib.suppress(ValueError, KeyError, TypeError):
            text = json.loads(text)["error"]  # the hub's message without its JSON
        print(f"touchline: {exc.code} {text}", file=sys.stderr)
        return 1
    print(f"touchline: cannot reach the hub at {url}: {exc.reason}", file=sys.stderr)
    return 2


def cmd_why(args: argparse.Namespace) -> int:
    """Why is (or isn't) this customer contacted for this campaign: the check now, the
    holds, and every decision with its rule, cause, policy version and time."""
    url = _hub_url(args)
    query = urllib.parse.urlencode(
        {"customer_id": args.customer, "campaign_id": args.campaign, "channel": args.channel}
    )
    try:
        check = _call_hub(url, "GET", f"/v1/contact-check?{query}")
        audit = _call_hub(
            url,
            "GET",
            f"/v1/customers/{urllib.parse.quote(args.customer, safe='')}/decisions?"
            + urllib.parse.urlencode({"campaign_id": args.campaign}),
        )
    except urllib.error.URLError as exc:
        return _hub_error(url, exc)
    verdict = "may be contacted" if check["allowed"] else "may NOT be contacted"
    version = check["policy_version"]
    print(
        f"{args.customer} {verdict} on {check['channel']} for {args.campaign} now "
        f"(policy {'version ' + str(version) if version is not None else 'defaults'})"
    )
    for reason in check["reasons"]:
        until = f" until {reason['until']}" if reason["until"] else " until a new fact ends it"
        print(f"  because {reason['rule']}: {reason['detail']}{until}")
    if check["next_allowed_at"]:
        print(f"  next allowed at {check['next_allowed_at']}")
    print("decisions, newest first:")
    for d in audit["decisions"]:
        version = d["policy_version"] if d["policy_version"] is not None else "-"
        reason = f" {d['reason']}" if d["reason"] else ""
        applied_by = d.get("policy_applied_by")  # absent from an older hub's answer
        by = f" (applied by {applied_by})" if applied_by else ""
        print(
            f"  {d['decided_at']}  {d['kind']:<10} {d['rule']}{reason}  "
            f"because of {d['source_event_id']}  policy {version}{by}"
        )
    if not audit["decisions"]:
        print("  (none)")
    return 0


def cmd_policy(args: argparse.Namespace) -> int:
    from streams.domain.campaign_policy import PolicyError, parse_policy_toml

    url = _hub_url(args)
    if args.action == "show":
        path = f"/v1/campaigns/{urllib.parse.quote(args.campaign, safe='')}/policy"
        if args.version is not None:
            path += f"?version={args.version}"
        try:
            print(json.dumps(_call_hub(url, "GET", path), indent=2, ensure_ascii=False))
        except urllib.error.URLError as exc:
            return _hub_error(url, exc)
        return 0
    # Read and check the whole document here first: a mistake is reported with its field
    # before anything is sent, and what is sent is the checked policy itself.
    try:
        policy = parse_policy_toml(Path(args.file).read_text(encoding="utf-8"))
    except OSError as exc:
        print(f"touchline: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    except (PolicyError, UnicodeDecodeError) as exc:
        print(f"touchline: {args.file}: {exc}", file=sys.stderr)
        return 2
    path = f"/v1/campaigns/{urllib.parse.quote(policy.campaign_id, safe='')}/policy"
    body = json.dumps(policy.model_dump(mode="json")).encode()
    try:
        answer = _call_hub(url, "PUT", path, body, "application/json")
    except urllib.error.URLError as exc:
        return _hub_error(url, exc)
    if answer.get("changed", True):  # an older hub does not say
        print(f"applied policy version {answer['version']} to campaign {answer['campaign_id']}")
    else:
        print(
            f"policy version {answer['version']} of campaign {answer['campaign_id']} "
            "unchanged: it is already the current one"
        )
    return 0


# A do-not-contact file is sent in parts well under the hub's default body limit (1 MiB)
# even when every character takes several bytes.
DNC_CHUNK_CHARS = 200 * 1024


def _dnc_chunks(text: str) -> tuple[list[tuple[str, dict[int, int]]], list[tuple[int, str]]]:
    """The file as CSV documents of about DNC_CHUNK_CHARS at most, each with the header
    and a map from its lines to the file's, plus the rows that are not valid CSV."""
    import csv
    import io

    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def encoded(row: list[str]) -> tuple[str, int]:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        text = buffer.getvalue()
        return text, len(io.StringIO(text, newline="").readlines())

    header: tuple[str, int] | None = None
    chunks: list[tuple[str, dict[int, int]]] = []
    broken: list[tuple[int, str]] = []
    parts: list[str] = []
    lines: dict[int, int] = {}
    size = written = 0
    while True:
        line = reader.line_num + 1  # where the next row starts, as the hub counts
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            broken.append((line, f"malformed CSV: {exc}"))
            continue
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = encoded(row)
            parts, size, written = [header[0]], len(header[0]), 1 + header[1]
            continue
        if size > DNC_CHUNK_CHARS:
            chunks.append(("".join(parts), lines))
            parts, lines = [header[0]], {}
            size, written = len(header[0]), 1 + header[1]
        cells, count = encoded(row)
        lines[written] = line
        parts.append(cells)
        size += len(cells)
        written += count
    if header is not None and (lines or not chunks):
        chunks.append(("".join(parts), lines))
    return chunks, broken


def cmd_dnc(args: argparse.Namespace) -> int:
    url = _hub_url(args)
    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        print(f"touchline: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"touchline: {args.file} is not UTF-8 text", file=sys.stderr)
        return 2
    chunks, rejected = _dnc_chunks(text)
    if not chunks:
        print(f"touchline: {args.file} has no header row", file=sys.stderr)
        return 2
    path = "/v1/dnc"
    if args.list_id:
        path += "?" + urllib.parse.urlencode({"list_id": args.list_id})
    accepted = 0
    for chunk, lines in chunks:
        try:
            answer = _call_hub(url, "POST", path, chunk.encode(), "text/csv; charset=utf-8")
        except urllib.error.URLError as exc:
            if accepted:
                print(f"touchline: {accepted} entries were imported before this", file=sys.stderr)
            return _hub_error(url, exc)
        accepted += answer["accepted"]
        rejected += [(lines.get(r["line"], r["line"]), r["reason"]) for r in answer["rejected"]]
    for line_number, reason in sorted(rejected):
        print(f"line {line_number}: {reason}", file=sys.stderr)
    print(f"accepted {accepted}, rejected {len(rejected)}")
    return 0 if not rejected else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="touchline", description=__doc__)
    parser.add_argument(
        "--version",
        action="version",
        version=f"touchline {importlib.metadata.version('touchline')}",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--broker", help="existing Kafka bootstrap servers (default: local Kafka)")
        p.add_argument("--data-dir", type=Path, help="default ./.touchline")

    up = sub.add_parser("up", help="local Kafka (unless --broker), the worker and the web API")
    common(up)
    up.add_argument("--web-port", type=int)
    up.add_argument("--loglevel", default="warning")
    up.set_defaults(func=cmd_up)

    worker = sub.add_parser("worker", help="one worker and its web API, against a running broker")
    common(worker)
    worker.add_argument("--web-port", type=int)
    worker.add_argument("--loglevel", default="warning")
    worker.set_defaults(func=cmd_worker)

    kafka = sub.add_parser("kafka", help="manage the local Kafka broker")
    kafka.add_argument("action", choices=["start", "stop", "status"])
    kafka.add_argument("--data-dir", type=Path)
    kafka.set_defaults(func=cmd_kafka)

    publish = sub.add_parser(
        "publish", help="publish interactions from a JSON-lines file, or a CSV file by a mapping"
    )
    common(publish)
    publish.add_argument("file")
    publish.add_argument(
        "--format",
        choices=["jsonl", "csv"],
        help="default: csv for a .csv file, else jsonl",
    )
    publish.add_argument(
        "--mapping",
        type=Path,
        help="for CSV: a TOML file saying how each row becomes an interaction",
    )
    publish.set_defaults(func=cmd_publish)

    tail = sub.add_parser("tail", help="print a topic's records, decoded")
    common(tail)
    tail.add_argument("topic")
    tail.add_argument("--from-beginning", action="store_true")
    tail.add_argument("--max", type=int, default=None, help="stop after this many records")
    tail.add_argument(
        "--idle-timeout",
        type=float,
        default=None,
        help="stop after this many seconds without a record",
    )
    tail.set_defaults(func=cmd_tail)

    customer = sub.add_parser("customer", help="print a customer's 360 view")
    customer.add_argument("id")
    customer.add_argument("--url", help="the hub's base URL (default: this machine's web port)")
    customer.set_defaults(func=cmd_customer)

    url_help = "the hub's base URL (default: this machine's web port)"
    policy = sub.add_parser("policy", help="apply or show a campaign's contact policy")
    policy_verbs = policy.add_subparsers(dest="action", required=True)
    apply = policy_verbs.add_parser("apply", help="check a policy TOML file and apply it")
    apply.add_argument("file", help="the policy (TOML; see streams/domain/campaign_policy.py)")
    apply.add_argument("--url", help=url_help)
    show = policy_verbs.add_parser("show", help="print a campaign's policy as JSON")
    show.add_argument("campaign")
    show.add_argument("--version", type=int, help="that version (default: the latest)")
    show.add_argument("--url", help=url_help)
    policy.set_defaults(func=cmd_policy)

    why = sub.add_parser("why", help="why a customer is or is not contacted for a campaign")
    why.add_argument("customer")
    why.add_argument("campaign")
    why.add_argument("--channel", default="VOICE", help="the channel to check (default VOICE)")
    why.add_argument("--url", help=url_help)
    why.set_defaults(func=cmd_why)

    dnc = sub.add_parser("dnc", help="manage the do-not-contact list")
    dnc_verbs = dnc.add_subparsers(dest="action", required=True)
    dnc_import = dnc_verbs.add_parser("import", help="import a do-not-contact CSV file")
    dnc_import.add_argument("file", help="CSV with kind,value or phone/email columns")
    dnc_import.add_argument("--list-id", help="the list of rows that name none")
    dnc_import.add_argument("--url", help=url_help)
    dnc.set_defaults(func=cmd_dnc)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.settings = settings_for(args)
    except ValueError as exc:  # ConfigError: a TOUCHLINE_* variable the hub cannot use
        print(f"touchline: {exc}", file=sys.stderr)
        return 2
    from streams.cli.tail import NoSuchTopic
    from streams.kafka.connection import KafkaAccessError
    from streams.kafka.producer import PublishError

    try:
        return int(args.func(args))
    except (KafkaAccessError, PublishError, NoSuchTopic) as exc:
        print(f"touchline: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
