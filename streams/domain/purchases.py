"""Purchase history: customer since, exact totals per currency, the last purchase, products."""

from __future__ import annotations

from decimal import Context, Decimal

from pydantic import AwareDatetime

from streams.domain.model import Fact, Int32

MAX_CURRENCIES = 10
MAX_PRODUCTS = 30
MAX_PRODUCT_CHARS = 100

# Totals are sums of amounts with 18 digits: well inside 60, so every sum is exact.
_EXACT = Context(prec=60)
_CENTS = Decimal("0.01")


def money(amount: Decimal) -> str:
    """The canonical text of an amount: at least two decimals, no trailing zeros beyond.
    A function of the value alone, so a total that is added to and subtracted from again
    (a merge undone) reads as it did."""
    if amount.is_zero():
        return "0.00"
    cents = amount.quantize(_CENTS, context=_EXACT)
    exact = cents if cents == amount else amount.normalize(context=_EXACT)
    return format(exact, "f")


def add_money(left: str, right: Decimal | str) -> str:
    return money(_EXACT.add(Decimal(left), Decimal(right)))


def subtract_money(left: str, right: Decimal | str) -> str:
    return money(_EXACT.subtract(Decimal(left), Decimal(right)))


class CurrencyTotal(Fact):
    """What the customer spent in one currency: an exact decimal, as text."""

    amount: str
    count: Int32


class PurchaseRecord(Fact):
    at: AwareDatetime
    amount: str
    currency: str
    product: str | None = None
    event_id: str

    def later_than(self, other: PurchaseRecord | None) -> bool:
        return other is None or (self.at, self.event_id) > (other.at, other.event_id)


def add_to_totals(
    totals: dict[str, CurrencyTotal], currency: str, amount: Decimal | str, count: int = 1
) -> dict[str, CurrencyTotal]:
    """Totals with one more purchase (or a merged profile's total) in `currency`. A
    currency beyond the bound is not totalled (the purchase is still counted)."""
    current = totals.get(currency)
    if current is None:
        if len(totals) >= MAX_CURRENCIES:
            return totals
        current = CurrencyTotal(amount="0.00", count=0)
    updated = CurrencyTotal(amount=add_money(current.amount, amount), count=current.count + count)
    return {**totals, currency: updated}


def add_product(products: tuple[str, ...], product: str | None) -> tuple[str, ...]:
    """Products bought, in the order first bought; the first MAX_PRODUCTS are kept, which
    is enough to tell whether a campaign's product was bought already."""
    name = (product or "").strip()[:MAX_PRODUCT_CHARS]
    if not name or name in products or len(products) >= MAX_PRODUCTS:
        return products
    return (*products, name)
