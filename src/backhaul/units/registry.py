"""Pure rules of the serial registry: normalising a sold-unit row and deriving its warranty."""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from itertools import compress
from typing import Any, NamedTuple

FIELDS = (
    "serial",
    "sku",
    "order_ref",
    "customer_email",
    "sold_at",
    "region",
    "channel",
    "price",
    "currency",
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_REGION = re.compile(r"^[A-Z]{2,3}$")
MAX_SERIAL = 64
MAX_ORDER_REF = 64
MAX_EMAIL = 254
MAX_CHANNEL = 40


@dataclass(frozen=True, slots=True)
class ProductRule:
    """What the registry needs to know about a product to accept its serials."""

    product_id: int
    brand_id: int
    serial_pattern: re.Pattern[str]
    warranty_months: int


class SoldUnit(NamedTuple):
    """A row that passed every check, normalised (a named tuple: made a million times in an
    import, it costs a third of a frozen dataclass)."""

    serial: str
    sku: str
    order_ref: str
    customer_email: str
    sold_at: datetime
    region: str
    channel: str
    price: Decimal
    currency: str
    warranty_end: date
    product_id: int
    brand_id: int


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row that was refused, the field at fault and why."""

    row: int
    serial: str | None
    field: str
    reason: str


def normalise_serial(value: Any) -> str:
    """Serials are compared trimmed and upper-cased."""
    return str(value).strip().upper()


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's end (Jan 31 + 1 month = Feb 28/29)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601 date or date-time; without a zone it is taken as UTC."""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    if parsed.tzinfo is UTC:  # "Z", as exports write it
        return parsed
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@lru_cache(maxsize=4096)
def _warranty_end(sold_on: date, months: int) -> date:
    return add_months(sold_on, months)


_MAX_PRICE = Decimal("1e10")
_CENT = Decimal("0.01")


@lru_cache(maxsize=4096)
def _price(text: str) -> Decimal | str:
    """The amount in `text` to the cent, or why it is refused (price points repeat: cached)."""
    try:
        price = Decimal(text)
    except InvalidOperation:
        return "not a number"
    if not price.is_finite() or price < 0 or price >= _MAX_PRICE:
        return "must be a non-negative amount below 10 billion"
    exponent = price.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        return "has more than two decimals"
    return price.quantize(_CENT)


def check_row(
    row_number: int, raw: Any, products: dict[str, ProductRule], now: datetime
) -> SoldUnit | Rejection:
    """Normalise one sold-unit row, or say which field is wrong and why.

    Runs once per imported row (a million times for a big file), so each field is turned
    into trimmed text once and the repetitive parts (prices, warranty ends) are cached.
    """
    if not isinstance(raw, dict):
        return Rejection(row_number, None, "row", "a row must be an object with named fields")
    texts: list[str] = []
    for name in FIELDS:  # the first field that is missing or blank is the one reported
        value = raw.get(name)
        text = "" if value is None else (value if type(value) is str else str(value)).strip()
        if not text:
            raw_serial = raw.get("serial")
            serial = normalise_serial(raw_serial)[:64] or None if raw_serial is not None else None
            return Rejection(row_number, serial, name, f"'{name}' is required")
        texts.append(text)
    serial_text, sku_text, order_ref, email_text, _, region_text, channel_text, price_text, cur = (
        texts
    )
    serial = serial_text.upper()

    def reject(field: str, reason: str) -> Rejection:
        return Rejection(row_number, serial, field, reason)

    if len(serial) > MAX_SERIAL:
        return reject("serial", "longer than 64 characters")
    sku = sku_text.upper()
    product = products.get(sku)
    if product is None:
        return reject("sku", f"unknown SKU '{sku[:40]}'")
    if not product.serial_pattern.fullmatch(serial):
        return reject(
            "serial",
            f"does not match the serial pattern of {sku} ({product.serial_pattern.pattern})",
        )
    try:
        sold_at = parse_timestamp(raw["sold_at"])
    except (ValueError, TypeError):
        return reject("sold_at", "not an ISO 8601 date or date-time")
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        return reject("sold_at", "outside the years 1 to 9999 in UTC")
    if sold_at > now:
        return reject("sold_at", "is in the future")
    price = _price(price_text)
    if isinstance(price, str):
        return reject("price", price)
    currency = cur.upper()
    if not _CURRENCY.match(currency):
        return reject("currency", "must be a three-letter ISO 4217 code")
    region = region_text.upper()
    if not _REGION.match(region):
        return reject("region", "must be a two- or three-letter region code")
    email = email_text.lower()
    if len(email) > MAX_EMAIL or not _EMAIL.match(email):
        return reject("customer_email", "not an email address")
    channel = channel_text.lower()
    if len(order_ref) > MAX_ORDER_REF:
        return reject("order_ref", "longer than 64 characters")
    if len(channel) > MAX_CHANNEL:
        return reject("channel", "longer than 40 characters")
    return SoldUnit(
        serial=serial,
        sku=sku,
        order_ref=order_ref,
        customer_email=email,
        sold_at=sold_at,
        region=region,
        channel=channel,
        price=price,
        currency=currency,
        warranty_end=_warranty_end(sold_at.date(), product.warranty_months),
        product_id=product.product_id,
        brand_id=product.brand_id,
    )


class SoldColumns(NamedTuple):
    """Sold units column by column, SoldUnit's fields in SoldUnit's order: element i of every
    list belongs to the i-th unit. An import checks, deduplicates and writes a chunk of rows
    this way, with one pass per column instead of one function call per row."""

    serial: list[str]
    sku: list[str]
    order_ref: list[str]
    customer_email: list[str]
    sold_at: list[datetime]
    region: list[str]
    channel: list[str]
    price: list[Decimal]
    currency: list[str]
    warranty_end: list[date]
    product_id: list[int]
    brand_id: list[int]

    def select(self, keep: Sequence[bool]) -> SoldColumns:
        """The units whose `keep` is true, in order."""
        return SoldColumns._make(list(compress(column, keep)) for column in self)


def _utc_time_or_none(text: str) -> datetime | None:
    try:
        return parse_timestamp(text)
    except (ValueError, TypeError, OverflowError):
        return None


def check_rows(
    first_row: int, raws: Sequence[Any], products: dict[str, ProductRule], now: datetime
) -> tuple[SoldColumns, list[Rejection]]:
    """`check_row` over consecutive rows (the first is row number `first_row`): the same units,
    in row order, and the same rejections, in row order.

    The rows are checked column by column: each field trimmed and normalised in one pass,
    the fields that repeat (SKU, region, channel, price, currency) checked once per distinct
    value. These passes only vouch for rows; any row they are not sure of (a value that is
    not text, blank, too long, malformed, in the future, an unknown SKU...) is decided by
    `check_row` itself, which also says why it refuses one. So `check_row` stays the one
    statement of the rules, and tests/units/test_check_rows.py checks both agree.
    """
    rows = [raw if type(raw) is dict else {} for raw in raws]  # other rows: check_row's
    doubted: set[int] = set()

    def texts(name: str) -> list[str]:
        """The field trimmed, or "" (in doubt) where it is not text."""
        return [v.strip() if type(v := row.get(name)) is str else "" for row in rows]

    def vouch(column: list[Any]) -> list[Any]:
        """Doubt the rows where a per-row check left "" or None."""
        if not all(column):
            doubted.update(i for i, value in enumerate(column) if not value)
        return column

    def per_distinct(column: list[str], normalise: Callable[[str], Any]) -> list[Any]:
        """Each distinct text normalised once; None (and a blank text) is in doubt."""
        normalised = {text: normalise(text) if text else None for text in set(column)}
        if any(value is None for value in normalised.values()):
            doubted.update(i for i, text in enumerate(column) if normalised[text] is None)
        return [normalised[text] for text in column]

    def known_sku(text: str) -> str | None:
        sku = text.upper()
        return sku if sku in products else None

    def price(text: str) -> Decimal | None:
        amount = _price(text)
        return None if isinstance(amount, str) else amount

    def currency(text: str) -> str | None:
        code = text.upper()
        return code if _CURRENCY.match(code) else None

    def region(text: str) -> str | None:
        code = text.upper()
        return code if _REGION.match(code) else None

    def channel(text: str) -> str | None:
        name = text.lower()
        return name if len(name) <= MAX_CHANNEL else None

    skus = per_distinct(texts("sku"), known_sku)
    rules = [products.get(sku) if sku else None for sku in skus]
    serials = vouch(
        [
            serial
            if rule and len(serial) <= MAX_SERIAL and rule.serial_pattern.fullmatch(serial)
            else ""
            for serial, rule in zip([text.upper() for text in texts("serial")], rules, strict=True)
        ]
    )
    order_refs = vouch([text if len(text) <= MAX_ORDER_REF else "" for text in texts("order_ref")])
    emails = vouch(
        [
            email if len(email := text.lower()) <= MAX_EMAIL and _EMAIL.match(email) else ""
            for text in texts("customer_email")
        ]
    )
    sold_ats = vouch(
        [
            sold_at if sold_at is not None and sold_at <= now else None
            for sold_at in map(_utc_time_or_none, texts("sold_at"))
        ]
    )
    warranty_ends: list[Any] = [
        _warranty_end(sold_at.date(), rule.warranty_months) if sold_at and rule else None
        for sold_at, rule in zip(sold_ats, rules, strict=True)
    ]
    # Rows in doubt hold placeholders ("", None, 0) until check_row replaces or drops them.
    columns = SoldColumns(
        serial=serials,
        sku=skus,
        order_ref=order_refs,
        customer_email=emails,
        sold_at=sold_ats,
        region=per_distinct(texts("region"), region),
        channel=per_distinct(texts("channel"), channel),
        price=per_distinct(texts("price"), price),
        currency=per_distinct(texts("currency"), currency),
        warranty_end=warranty_ends,
        product_id=[rule.product_id if rule else 0 for rule in rules],
        brand_id=[rule.brand_id if rule else 0 for rule in rules],
    )
    if not doubted:
        return columns, []
    rejections: list[Rejection] = []
    keep = [True] * len(rows)
    every_column: tuple[list[Any], ...] = columns
    for i in sorted(doubted):
        outcome = check_row(first_row + i, raws[i], products, now)
        if isinstance(outcome, Rejection):
            rejections.append(outcome)
            keep[i] = False
        else:
            for column, value in zip(every_column, outcome, strict=True):
                column[i] = value
    return columns.select(keep), rejections
