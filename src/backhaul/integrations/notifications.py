"""Customer emails: rendered from templates in the customer's language, sent from the outbox by
SMTP (BACKHAUL_SMTP_URL) or, with no SMTP configured, written as .eml files to BACKHAUL_MAIL_DIR.

Delivery is at least once: an email is marked delivered only after the server accepted it (or
the file was written), and its Message-ID is built from the outbox event id, so a re-send after a
crash carries the same id and the receiving side can drop the duplicate. The dispatcher also
brings open return cases up to date with what hubs recorded on their units (see
`returns.service.sync_milestones`).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import Table, select, update

from backhaul.db import session_scope, utcnow
from backhaul.kit import i18n
from backhaul.kit.outbox import OutboxEvent
from backhaul.settings import get_settings

log = logging.getLogger("backhaul.notifications")
EMAIL_EVENT = "notification.email"
TEMPLATES = Path(__file__).parent / "templates"
MAX_ATTEMPTS = 10


def N_(message: str) -> str:  # noqa: N802 - the conventional name that message extraction knows
    """Mark a message for translation where it is defined; it is translated where it is used."""
    return message


SUBJECTS = {
    "label_ready": N_("Your return %(rma)s: the label is ready"),
    "received": N_("Your return %(rma)s: we have received it"),
    "resolved": N_("Your return %(rma)s is resolved"),
    "survey": N_("How was your return %(rma)s?"),
}
_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=False,  # noqa: S701 - text/plain email; nothing is interpreted as markup
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def compose(event_id: str, payload: dict[str, Any]) -> EmailMessage:
    """The email for an outbox event, in the customer's language."""
    template = str(payload["template"])
    if template not in SUBJECTS:
        raise ValueError(f"unknown email template {template!r}")
    locale = i18n.supported(str(payload.get("locale")))
    _ = i18n.translator(locale)
    context = {
        "name": None,
        "label_url": None,
        "survey_url": None,
        "outcome": None,
        "ground_only": False,
    } | payload
    body = _env.get_template(f"{template}.txt").render(context, _=_)
    settings = get_settings()
    message = EmailMessage()
    message["Subject"] = _(SUBJECTS[template], rma=payload["rma"])
    message["From"] = settings.mail_from
    name = payload.get("name")
    message["To"] = formataddr((str(name), str(payload["to"]))) if name else str(payload["to"])
    domain = parseaddr(settings.mail_from)[1].partition("@")[2] or "backhaul.invalid"
    message["Message-ID"] = f"<{event_id}@{domain}>"
    message["Date"] = format_datetime(utcnow())
    message["X-Backhaul-Event-Id"] = event_id
    message["X-Backhaul-RMA"] = str(payload["rma"])
    message.set_content("\n".join(line.rstrip() for line in body.strip().splitlines()) + "\n")
    message["Content-Language"] = locale  # after set_content, which resets Content-* headers
    return message


@dataclass(frozen=True)
class SmtpTarget:
    """Where BACKHAUL_SMTP_URL points."""

    host: str
    port: int
    tls: bool
    starttls: bool
    username: str | None
    password: str | None


def smtp_target(url: str) -> SmtpTarget:
    """Parse smtp://user:pass@host:port, smtps://… (TLS) or smtp://…?starttls=1."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("BACKHAUL_SMTP_URL must start with smtp:// or smtps://")
    tls = parts.scheme == "smtps"
    options = parse_qs(parts.query)
    return SmtpTarget(
        host=parts.hostname or "localhost",
        port=parts.port or (465 if tls else 25),
        tls=tls,
        starttls=options.get("starttls", ["0"])[0] in ("1", "true", "yes"),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def deliver(message: EmailMessage) -> str:
    """Send by SMTP, or write the .eml file; returns where it went."""
    settings = get_settings()
    if settings.smtp_url:
        target = smtp_target(settings.smtp_url)
        context = ssl.create_default_context()
        smtp: smtplib.SMTP = (
            smtplib.SMTP_SSL(target.host, target.port, timeout=30, context=context)
            if target.tls
            else smtplib.SMTP(target.host, target.port, timeout=30)
        )
        with smtp:
            if target.starttls:
                smtp.starttls(context=context)
            if target.username:
                smtp.login(target.username, target.password or "")
            smtp.send_message(message)
        return f"smtp://{target.host}:{target.port}"
    folder = settings.mail_dir
    folder.mkdir(parents=True, exist_ok=True)
    event_id = str(message["X-Backhaul-Event-Id"])
    path = folder / f"{event_id}.eml"
    partial = folder / f".{event_id}.part"
    partial.write_bytes(bytes(message))
    partial.replace(path)  # the same event written twice is one file
    return str(path)


_OUTBOX = cast(Table, OutboxEvent.__table__)
_retry_at: dict[str, float] = {}


def dispatch_once(limit: int = 50) -> int:
    """Send the pending customer emails; returns how many were delivered."""
    with session_scope(write=False) as session:
        events = session.execute(
            select(_OUTBOX.c.id, _OUTBOX.c.event_id, _OUTBOX.c.payload, _OUTBOX.c.attempts)
            .where(
                _OUTBOX.c.delivered_at.is_(None),
                _OUTBOX.c.type == EMAIL_EVENT,
                _OUTBOX.c.attempts < MAX_ATTEMPTS,
            )
            .order_by(_OUTBOX.c.id)
            .limit(limit)
        ).all()
    delivered = 0
    now = time.monotonic()
    for row_id, event_id, payload, attempts in events:
        if _retry_at.get(event_id, 0) > now:
            continue
        try:
            where = deliver(compose(event_id, payload))
        except Exception as error:  # any failure is recorded and retried later
            log.warning("email %s not sent: %s", event_id, error)
            _retry_at[event_id] = now + min(2 ** (attempts + 1), 600)
            with session_scope() as session:
                session.execute(
                    update(_OUTBOX)
                    .where(_OUTBOX.c.id == row_id)
                    .values(attempts=attempts + 1, last_error=str(error)[:500])
                )
            continue
        _retry_at.pop(event_id, None)
        with session_scope() as session:
            session.execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.id == row_id, _OUTBOX.c.delivered_at.is_(None))
                .values(delivered_at=utcnow(), attempts=attempts + 1, last_error=None)
            )
        log.info("email %s delivered to %s", event_id, where)
        delivered += 1
    return delivered


def sync_cases() -> int:
    """Move open return cases on with what hubs recorded (in its own transaction)."""
    from backhaul.returns.service import sync_milestones

    with session_scope() as session:
        return sync_milestones(session)


def run(stop: threading.Event, every: float = 2.0) -> None:
    """The dispatcher loop (a `backhaul serve` thread, or `backhaul worker`)."""
    while not stop.is_set():
        try:
            sync_cases()
            dispatch_once()
        except Exception as error:  # keep the loop alive; the next round retries
            log.warning("dispatcher round failed: %s", error)
        stop.wait(every)


def start_thread(every: float = 2.0) -> threading.Event:
    """Run the dispatcher in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    threading.Thread(
        target=run, args=(stop, every), name="backhaul-dispatcher", daemon=True
    ).start()
    return stop
