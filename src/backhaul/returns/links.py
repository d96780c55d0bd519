"""Signed links for customers: the case's status page and label, and its survey."""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

from backhaul.kit.signing import session_secret
from backhaul.settings import get_settings

PURPOSES = ("case", "survey")


def _serializer(purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(session_secret(), salt=f"backhaul.returns.{purpose}")


def sign(purpose: str, rma: str) -> str:
    """A token naming the RMA, valid for one purpose only."""
    return str(_serializer(purpose).dumps(rma))


def unsign(purpose: str, token: str) -> str | None:
    """The RMA a token names, or None when it was not signed by us for this purpose."""
    if len(token) > 200:
        return None
    try:
        value = _serializer(purpose).loads(token)
    except (BadSignature, UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, str) else None


def absolute(path: str) -> str:
    """A path on this installation as the customer reaches it (BACKHAUL_PUBLIC_URL)."""
    return get_settings().public_url.rstrip("/") + path


def status_path(rma: str) -> str:
    """The status page of a case."""
    return f"/returns/status/{sign('case', rma)}"


def label_path(rma: str) -> str:
    """The label PDF of a case."""
    return f"/returns/label/{sign('case', rma)}.pdf"


def survey_path(rma: str) -> str:
    """The satisfaction survey of a case."""
    return f"/returns/survey/{sign('survey', rma)}"
