"""The `touchline` command: up, worker, kafka, publish, tail, customer."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streams.publisher import PublishReport


def _apply_common(args: argparse.Namespace) -> None:
    """Flags override the environment; settings are read from it when the app is imported."""
    if getattr(args, "broker", None):
        os.environ["TOUCHLINE_BROKER"] = args.broker
    if getattr(args, "web_port", None):
        os.environ["TOUCHLINE_WEB_PORT"] = str(args.web_port)
    if getattr(args, "data_dir", None):
        os.environ["TOUCHLINE_DATA_DIR"] = str(args.data_dir)


def _local_kafka() -> Any:
    from streams.config import Settings
    from streams.kafka.local import LocalKafka

    settings = Settings.from_env()
    return LocalKafka(data_dir=settings.data_dir, port=settings.kafka_port)


def cmd_kafka(args: argparse.Namespace) -> int:
    from streams.kafka.local import LocalKafkaError

    kafka = _local_kafka()
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
    from streams.config import Settings
    from streams.kafka.local import LocalKafkaError

    settings = Settings.from_env()
    kafka = None
    if not settings.broker:
        kafka = _local_kafka()
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
        from streams.worker import run_worker

        run_worker(args.loglevel)
    except KeyboardInterrupt:
        pass
    finally:
        if kafka is not None:
            kafka.stop()
            print("Kafka stopped")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.worker import run_worker

    run_worker(args.loglevel)
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    path = Path(args.file)
    file_format = args.format or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    if file_format == "csv":
        return _publish_csv(path, args.mapping)
    if args.mapping is not None:
        print("touchline: --mapping applies to CSV files only (--format csv)", file=sys.stderr)
        return 2

    from streams.publisher import publish_file

    report = asyncio.run(publish_file(path))
    return _publish_report(report)


def _publish_csv(path: Path, mapping_path: Path | None) -> int:
    from streams.adapters.batch import EXAMPLES, MappingError, load_mapping
    from streams.publisher import SourceFileError, publish_csv

    if mapping_path is None:
        print(
            "touchline: a CSV file needs --mapping MAPPING.toml, saying how each row becomes "
            f"an interaction (documented examples: {EXAMPLES})",
            file=sys.stderr,
        )
        return 2
    try:
        report = asyncio.run(publish_csv(path, load_mapping(mapping_path)))
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
    from streams.tail import tail

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            tail(
                args.topic,
                from_beginning=args.from_beginning,
                limit=args.max,
                idle_timeout=args.idle_timeout,
            )
        )
    return 0


def cmd_customer(args: argparse.Namespace) -> int:
    from streams.config import Settings

    settings = Settings.from_env()
    url = args.url or f"http://{settings.web_host}:{settings.web_port}"
    request = urllib.request.Request(f"{url}/v1/customers/{urllib.parse.quote(args.id, safe='')}")
    key = os.environ.get("TOUCHLINE_API_KEY") or next(iter(settings.api_keys), None)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="touchline", description=__doc__)
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _apply_common(args)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
