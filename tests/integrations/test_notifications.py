"""Customer emails through the outbox: a real SMTP server on localhost (aiosmtpd) receives them
in the customer's language, each once, with the outbox event id as its Message-ID; a server
that is down is retried; with no SMTP configured they are written as .eml files."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from backhaul.db import session_scope
from backhaul.integrations import notifications
from backhaul.kit.outbox import OutboxEvent
from backhaul.settings import get_settings
from tests.returns.conftest import ReturnsWorld


class Inbox:
    """An aiosmtpd handler that keeps what arrives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch, database: str) -> Iterator[Inbox]:
    handler = Inbox()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("BACKHAUL_SMTP_URL", f"smtp://127.0.0.1:{port}")
    monkeypatch.setenv("BACKHAUL_MAIL_FROM", "Lumen Returns <returns@lumen.example>")
    get_settings.cache_clear()
    notifications._retry_at.clear()
    try:
        yield handler
    finally:
        controller.stop()


def _body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def _pending() -> list[OutboxEvent]:
    with session_scope(write=False) as session:
        return list(
            session.scalars(
                select(OutboxEvent).where(
                    OutboxEvent.type == "notification.email", OutboxEvent.delivered_at.is_(None)
                )
            )
        )


def test_the_label_email_arrives_once_in_the_customers_language(
    returns_world: ReturnsWorld, inbox: Inbox
) -> None:
    case = returns_world.open(serial=returns_world.sell(region="JP"), locale="ja", name="山田 花子")
    [event] = _pending()
    assert notifications.dispatch_once() == 1
    assert notifications.dispatch_once() == 0  # delivered: not sent again
    [message] = inbox.messages
    assert message["Subject"] == f"返品 {case['rma']}：ラベルの準備ができました"
    assert message["Message-ID"] == f"<{event.event_id}@lumen.example>"
    assert message["Content-Language"] == "ja"
    assert message["To"].addresses[0].addr_spec == "ada@example.com"
    body = _body(message)
    assert "山田 花子 様" in body and case["rma"] in body
    assert case["label_url"] in body and case["status_url"] in body
    assert _pending() == []


def test_a_server_that_is_down_is_retried_with_the_same_message_id(
    returns_world: ReturnsWorld, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    returns_world.open(serial=returns_world.sell(region="EU"), locale="de")
    real_url = get_settings().smtp_url
    monkeypatch.setenv("BACKHAUL_SMTP_URL", f"smtp://127.0.0.1:{_free_port()}")
    get_settings.cache_clear()
    assert notifications.dispatch_once() == 0
    [event] = _pending()
    assert event.attempts == 1 and event.last_error
    monkeypatch.setenv("BACKHAUL_SMTP_URL", str(real_url))
    get_settings.cache_clear()
    notifications._retry_at.clear()  # skip the back-off wait
    assert notifications.dispatch_once() == 1
    [message] = inbox.messages
    assert message["Message-ID"] == f"<{event.event_id}@lumen.example>"
    assert message["Subject"].startswith("Ihre Rücksendung")


def test_every_milestone_is_emailed(returns_world: ReturnsWorld, inbox: Inbox) -> None:
    case = returns_world.open(serial=returns_world.sell(region="EU"), locale="fr")
    received = returns_world.call(
        "admin", "POST", f"/api/v1/units/{case['serial']}/steps/receive", json={"site": "HUB-EU"}
    )
    assert received.status_code == 200
    assert notifications.sync_cases() == 1
    assert notifications.sync_cases() == 0
    resolve = returns_world.call(
        "agent",
        "POST",
        f"/api/v1/returns/{case['rma']}/resolve",
        json={"outcome": "remboursement effectué"},
    )
    assert resolve.status_code == 200
    assert notifications.dispatch_once() == 4
    subjects = [m["Subject"] for m in inbox.messages]
    assert subjects == [
        f"Votre retour {case['rma']} : l'étiquette est prête",
        f"Votre retour {case['rma']} : nous l'avons reçu",
        f"Votre retour {case['rma']} est traité",
        f"Comment s'est passé votre retour {case['rma']} ?",
    ]
    assert "Résultat : remboursement effectué" in _body(inbox.messages[2])
    assert "/returns/survey/" in _body(inbox.messages[3])
    assert len({m["Message-ID"] for m in inbox.messages}) == 4


def test_without_smtp_messages_are_written_as_eml_files(
    returns_world: ReturnsWorld, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("BACKHAUL_SMTP_URL", raising=False)
    monkeypatch.setenv("BACKHAUL_MAIL_DIR", str(tmp_path / "mail"))
    get_settings.cache_clear()
    case = returns_world.open(serial=returns_world.sell(), locale="es")
    [event] = _pending()
    assert notifications.dispatch_once() == 1
    path = tmp_path / "mail" / f"{event.event_id}.eml"
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == f"Su devolución {case['rma']}: la etiqueta está lista"
    assert list((tmp_path / "mail").iterdir()) == [path]


def test_the_survey_is_answered_once_through_its_signed_link(
    returns_world: ReturnsWorld, inbox: Inbox
) -> None:
    case = returns_world.open(serial=returns_world.sell())
    returns_world.call(
        "admin", "POST", f"/api/v1/units/{case['serial']}/steps/receive", json={"site": "HUB-US"}
    )
    returns_world.call(
        "agent", "POST", f"/api/v1/returns/{case['rma']}/resolve", json={"outcome": "refunded"}
    )
    notifications.dispatch_once()
    survey_url = next(
        line for line in _body(inbox.messages[-1]).splitlines() if "/returns/survey/" in line
    )
    path = survey_url.strip().split("8000", 1)[1]
    browser = returns_world.client
    page = browser.get(path, headers={"accept": "text/html"})
    assert page.status_code == 200
    import re

    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    first = browser.post(path, data={"csrf": csrf.group(1), "score": "4", "comment": "quick"})
    assert first.status_code == 200
    second = browser.post(path, data={"csrf": csrf.group(1), "score": "1", "comment": "again"})
    assert second.status_code == 409
    body = returns_world.call("agent", "GET", f"/api/v1/returns/{case['rma']}").json()
    assert body["survey_score"] == 4
