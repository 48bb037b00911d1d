"""Prometheus metrics of the worker, served at GET /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

registry = CollectorRegistry()

events = Counter(
    "touchline_events_total",
    "Records handled by the agents, by agent and outcome",
    ["agent", "outcome"],
    registry=registry,
)
decisions = Counter(
    "touchline_decisions_total",
    "Decisions published, by kind",
    ["kind"],
    registry=registry,
)


def exposition() -> bytes:
    return generate_latest(registry)
