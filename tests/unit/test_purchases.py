"""Purchase history: customer since, exact totals per currency, last purchase, products."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from streams.domain.customer import CustomerState, evolve
from streams.domain.events import Interaction, Purchase
from streams.domain.purchases import (
    MAX_CURRENCIES,
    MAX_PRODUCTS,
    add_money,
    money,
    subtract_money,
)
from streams.domain.single_view import single_customer_view
from tests.factories import CUSTOMER, T0, interaction

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def bought(
    event_id: str,
    amount: str,
    currency: str = "TRY",
    *,
    at: datetime = T0,
    product: str | None = None,
) -> Interaction:
    return interaction(
        event_id, Purchase(amount=Decimal(amount), currency=currency, product=product), at=at
    )


def fold(*events: Interaction) -> CustomerState:
    state = CustomerState.new(CUSTOMER)
    for event in events:
        state = evolve(state, event)
    return state


def test_the_history_is_shown() -> None:
    state = fold(
        bought("b1", "120", at=T0 + timedelta(days=3), product="card"),
        bought("b2", "0.1", at=T0, product="loan"),
        bought("b3", "0.2", at=T0 + timedelta(days=1)),
        bought("b4", "15.5", "EUR", at=T0 + timedelta(days=2), product="card"),
    )
    assert single_customer_view(state, NOW)["purchases"] == {
        "customer_since": "2026-11-23T10:00:00Z",
        "count": 4,
        "totals": {"EUR": "15.50", "TRY": "120.30"},  # 0.1 + 0.2 is exactly 0.3 here
        "last": {
            "at": "2026-11-26T10:00:00Z",
            "amount": "120.00",
            "currency": "TRY",
            "product": "card",
        },
        "products": ["card", "loan"],
    }
    assert state.purchase_totals["TRY"].count == 3


def test_an_earlier_purchase_delivered_late_is_not_the_last() -> None:
    state = fold(bought("b2", "5", at=T0 + timedelta(days=1)), bought("b1", "7", at=T0))
    assert state.last_purchase is not None and state.last_purchase.event_id == "b2"
    assert state.customer_since == T0
    assert state.last_purchase_at == T0 + timedelta(days=1)


def test_totals_do_not_depend_on_the_order() -> None:
    events = [bought("b1", "0.1"), bought("b2", "99999999999999.9999"), bought("b3", "-0.1001")]
    totals = {
        fold(*order).purchase_totals["TRY"].amount for order in itertools.permutations(events)
    }
    assert totals == {"99999999999999.9998"}


def test_a_refund_counts_against_the_total() -> None:
    state = fold(bought("b1", "100"), bought("b2", "-100"))
    assert state.purchase_totals["TRY"].amount == "0.00"


def test_currencies_beyond_the_bound_are_counted_not_totalled() -> None:
    codes = [f"C{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(MAX_CURRENCIES + 2)]
    state = fold(*(bought(f"b{i}", "1", code) for i, code in enumerate(codes)))
    assert len(state.purchase_totals) == MAX_CURRENCIES
    assert state.purchase_count == MAX_CURRENCIES + 2


def test_products_are_a_bounded_set_in_the_order_first_bought() -> None:
    events = [bought(f"b{i}", "1", product=f"p{i}") for i in range(MAX_PRODUCTS + 5)]
    state = fold(*events, bought("again", "1", product=" p0 "))
    assert state.products == tuple(f"p{i}" for i in range(MAX_PRODUCTS))


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("120", "120.00"),
        ("120.5", "120.50"),
        ("120.500", "120.50"),
        ("0.555", "0.555"),
        ("-0.00", "0.00"),
        ("1E+3", "1000.00"),
        ("99999999999999.9999", "99999999999999.9999"),
    ],
)
def test_money_text_is_canonical(amount: str, text: str) -> None:
    assert money(Decimal(amount)) == text


def test_adding_and_subtracting_gives_the_same_text_back() -> None:
    total = "100.00"
    assert subtract_money(add_money(total, "0.555"), "0.555") == total
