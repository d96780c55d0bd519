"""Certificates of sanitization: their content (the fields of the NIST SP 800-88 Rev. 1 sample
certificate, Appendix G), the PDF, and verification offline (signature) and against the record."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from backhaul.catalog.models import Regulated
from backhaul.kit import signing
from backhaul.kit.auth import Role
from backhaul.processing.models import SanitizationCertificate, UnitStep
from backhaul.units.models import Unit

STANDARD = "NIST SP 800-88 Rev. 1, Appendix G (sample certificate of sanitization)"
ALGORITHM = "Ed25519 over the canonical JSON of `certificate`"
# NIST SP 800-88 "method type" names for the three methods.
METHOD_TYPE = {"clear": "Clear", "purge": "Purge", "destroy": "Destroy"}
# Default technique when the station does not name one.
DEFAULT_TECHNIQUE = {"clear": "overwrite", "purge": "crypto_erase", "destroy": "shred"}
VERIFICATION_METHOD = {"full": "Full verification", "sampling": "Quick sampling"}


@dataclass(frozen=True)
class Person:
    """Someone named on a certificate (NIST: name, title, organisation, location, contact)."""

    name: str
    title: str
    organization: str
    location: str
    contact: str

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "title": self.title,
            "organization": self.organization,
            "location": self.location,
            "contact": self.contact,
        }


@dataclass(frozen=True)
class Workplace:
    """The site a wipe was done at, as a certificate names it."""

    code: str
    name: str
    region: str


@dataclass(frozen=True)
class Signatory:
    """A user a certificate names, as their record has them."""

    username: str
    display_name: str
    role: Role
    email: str | None


def person(
    user: Signatory | None, fallback_name: str, fallback_title: str, site: Workplace | None
) -> Person:
    """A certificate's person from the user record (or the acting key, when it is not a person)."""
    location = f"{site.name} ({site.code}, {site.region})" if site else "not at a site"
    return Person(
        name=user.display_name if user else fallback_name,
        title=(user.role.value if user else fallback_title).replace("_", " "),
        organization=site.name if site else "Backhaul installation",
        location=location,
        contact=(
            user.email if user and user.email else f"{user.username if user else fallback_name}"
        ),
    )


def confidentiality(regulated: Regulated) -> str:
    """Pre-sanitization confidentiality category (FIPS 199 terms): personal data is moderate;
    health, biometric and children's data high."""
    return "moderate" if regulated is Regulated.none else "high"


def account_deactivation(data: Any) -> dict[str, Any]:
    """The certificate's proof that the previous owner's account is gone: the status, who
    confirmed it, the cloud's reference, and the exchange it came from (endpoint, final HTTP
    status, how many attempts). `data` is the SanitizeIn."""
    confirmation = data.account_confirmation
    response = confirmation.response if confirmation is not None else None
    return {
        "status": data.account.value,
        "confirmed_by": confirmation.source.value if confirmation is not None else None,
        "reference": confirmation.reference if confirmation is not None else None,
        "endpoint": response.url if response is not None else None,
        "http_status": response.status_code if response is not None else None,
        "attempts": len(response.attempts) if response is not None else None,
    }


def build(
    *,
    certificate_id: str,
    serial: str,
    sku: str,
    make: str,
    model: str,
    regulated: Regulated,
    data: Any,
    performer: Person,
    performed_by: str,
    verifier: Person | None,
    verified_by: str | None,
    site_code: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The certificate's content, which the installation key signs. `data` is the SanitizeIn;
    `make` is the brand's name and `model` the product's."""
    method = data.method.value
    issued = now.isoformat(timespec="seconds")
    technique = getattr(data, "technique", None) or DEFAULT_TECHNIQUE[method]
    return {
        "certificate_id": certificate_id,
        "standard": STANDARD,
        "issued_at": issued,
        # flat summary, stable for integrations
        "serial": serial,
        "sku": sku,
        "regulated": regulated.value,
        "method": method,
        "tool": data.tool,
        "verification": data.verification,
        "verification_result": data.verification_result,
        "account": data.account.value,
        "performed_by": performed_by,
        "verified_by": verified_by,
        "second_person_verified": verifier is not None,
        "site": site_code,
        # NIST SP 800-88 sample certificate
        "person_performing": performer.as_dict(),
        "media": {
            "make": make,
            "model": f"{model} ({sku})",
            "serial_number": serial,
            "media_type": getattr(data, "media_type", None) or "flash memory (embedded)",
            "source": "customer return",
            "pre_sanitization_confidentiality": confidentiality(regulated),
        },
        "sanitization": {
            "method_type": METHOD_TYPE[method],
            "method_used": technique.replace("_", " "),
            "method_details": getattr(data, "details", None)
            or f"{METHOD_TYPE[method]} by {technique.replace('_', ' ')}; device-cloud account "
            f"{data.account.value.replace('_', ' ')}",
            "tool": data.tool,
            "tool_version": data.tool.rsplit(" ", 1)[-1] if " " in data.tool else "",
            "verification_method": VERIFICATION_METHOD[data.verification],
            "verification_result": data.verification_result,
            "post_sanitization_confidentiality": "unclassified",
            "post_sanitization_destination": getattr(data, "destination", None)
            or "internal reuse (refurbishment)",
            "completed_at": issued,
        },
        "account_deactivation": account_deactivation(data),
        "person_validating": (verifier.as_dict() | {"validated_at": issued}) if verifier else None,
    }


# --- verification ------------------------------------------------------------------------


@dataclass
class Verdict:
    """What a verification found: each check with its result, and whether all held."""

    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(passed for _, passed, _ in self.checks)

    def add(self, name: str, passed: bool, detail: str = "") -> bool:
        self.checks.append((name, passed, detail))
        return passed


def parse_document(text: str) -> tuple[dict[str, Any], str]:
    """The certificate and signature from a certificate document (the API's JSON)."""
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError("not a certificate document: expected a JSON object")
    content, signature = document.get("certificate"), document.get("signature")
    if not isinstance(content, dict) or not isinstance(signature, str):
        raise ValueError("not a certificate document: needs `certificate` and `signature`")
    return content, signature


def verify_signature(
    content: dict[str, Any], signature: str, key: Ed25519PublicKey, verdict: Verdict
) -> bool:
    """Offline: does the signature cover exactly this content under this public key?"""
    return verdict.add(
        "signature",
        signing.verify(content, signature, key),
        "Ed25519 signature over the canonical JSON",
    )


def verify_record(
    session: Session, content: dict[str, Any], signature: str, verdict: Verdict
) -> bool:
    """With the database: the certificate is on record, byte for byte, for a passed sanitize
    step of the same unit."""
    certificate_id = content.get("certificate_id")
    row = (
        session.get(SanitizationCertificate, certificate_id)
        if isinstance(certificate_id, str)
        else None
    )
    if not verdict.add("on record", row is not None, f"certificate {certificate_id}"):
        return False
    assert row is not None
    same = signing.canonical_json(row.content) == signing.canonical_json(content)
    verdict.add("content matches the record", same)
    verdict.add("signature matches the record", row.signature == signature)
    unit = session.get(Unit, row.unit_id)
    verdict.add(
        "unit matches",
        unit is not None and unit.serial == content.get("serial"),
        f"record is for {unit.serial if unit else '?'}",
    )
    step = session.scalars(select(UnitStep).where(UnitStep.id == row.step_id)).first()
    verdict.add(
        "issued by a passed sanitize step",
        step is not None
        and step.step == "sanitize"
        and step.outcome == "pass"
        and step.evidence.get("certificate_id") == certificate_id,
    )
    return verdict.ok


# --- PDF ---------------------------------------------------------------------------------


def _account_text(content: dict[str, Any]) -> str:
    """'deactivated, confirmed by device cloud (reference R-1, HTTP 200 after 3 attempts)'."""
    account = content.get("account_deactivation") or {}
    status = str(account.get("status") or content.get("account") or "").replace("_", " ")
    if not account.get("confirmed_by"):
        return status
    details = [f"reference {account.get('reference')}"]
    if account.get("endpoint"):
        details.append(f"{account['endpoint']}, HTTP {account.get('http_status')}")
        details.append(f"{account.get('attempts')} attempt(s)")
    confirmed_by = str(account["confirmed_by"]).replace("_", " ")
    return f"{status}, confirmed by {confirmed_by} ({'; '.join(details)})"


def _rows(content: dict[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    def text(value: Any) -> str:
        return "" if value is None else str(value)

    performer = content.get("person_performing") or {}
    validator = content.get("person_validating") or {}
    media = content.get("media") or {}
    sanitization = content.get("sanitization") or {}
    people = ("name", "title", "organization", "location", "contact")
    return [
        (
            "Person performing sanitization",
            [(name.title(), text(performer.get(name))) for name in people],
        ),
        (
            "Media information",
            [
                ("Make / vendor", text(media.get("make"))),
                ("Model", text(media.get("model"))),
                ("Serial number", text(media.get("serial_number"))),
                ("Media type", text(media.get("media_type"))),
                ("Source", text(media.get("source"))),
                (
                    "Pre-sanitization confidentiality",
                    text(media.get("pre_sanitization_confidentiality")),
                ),
            ],
        ),
        (
            "Sanitization details",
            [
                ("Method type", text(sanitization.get("method_type"))),
                ("Method used", text(sanitization.get("method_used"))),
                ("Method details", text(sanitization.get("method_details"))),
                ("Tool used (incl. version)", text(sanitization.get("tool"))),
                ("Verification method", text(sanitization.get("verification_method"))),
                ("Verification result", text(sanitization.get("verification_result"))),
                (
                    "Post-sanitization confidentiality",
                    text(sanitization.get("post_sanitization_confidentiality")),
                ),
                (
                    "Post-sanitization destination",
                    text(sanitization.get("post_sanitization_destination")),
                ),
                ("Device-cloud account", _account_text(content)),
                ("Completed", text(sanitization.get("completed_at"))),
            ],
        ),
        (
            "Validation (second person)",
            [(name.title(), text(validator.get(name))) for name in people]
            + [("Validated", text(validator.get("validated_at")))]
            if validator
            else [("Validated by", "no second-person validation (not required)")],
        ),
    ]


def field_sections() -> list[tuple[str, list[str]]]:
    """The certificate's sections and the fields each one lists (what the PDF prints)."""
    sample: dict[str, Any] = {"person_validating": {"name": ""}}
    return [(heading, [label for label, _ in rows]) for heading, rows in _rows(sample)]


def _standing(reverification: dict[str, Any]) -> str:
    """What re-verification found, in a sentence for the PDF."""
    status = reverification.get("status")
    if status == "failed":
        return (
            f"FAILED RE-VERIFICATION on {reverification.get('decided_at')} by "
            f"{reverification.get('performed_by')} ({reverification.get('method')}, "
            f"{reverification.get('tool')}): {reverification.get('notes')}. This wipe does not "
            "stand; the unit was quarantined to be wiped again."
        )
    if status == "passed":
        return (
            f"Drawn at random for re-verification; re-verified on "
            f"{reverification.get('decided_at')} by {reverification.get('performed_by')} "
            f"({reverification.get('method')}, {reverification.get('tool')})."
        )
    if status == "withdrawn":
        return (
            f"Drawn at random for re-verification; withdrawn on "
            f"{reverification.get('decided_at')} by {reverification.get('performed_by')} "
            f"(the unit was written off): {reverification.get('notes')}. The wipe was not "
            "re-verified."
        )
    if status == "pending":
        return "Drawn at random for re-verification by another person: pending."
    return "Drawn at random for re-verification; superseded by a newer wipe."


def render_pdf(
    content: dict[str, Any],
    signature: str,
    public_key_pem: bytes,
    reverification: dict[str, Any] | None = None,
) -> bytes:
    """The certificate as a one-page PDF: every field, the signature and how to check it, and
    (outside the signed content) what re-verification found."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=8, leading=10)
    mono = styles["Code"].clone("mono", fontSize=6.5, leading=8)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=16 * mm,
        rightMargin=16 * mm,
        topMargin=14 * mm,
        bottomMargin=14 * mm,
        title=f"Certificate of sanitization {content.get('certificate_id', '')}",
        author="Backhaul",
    )
    story: list[Any] = [
        Paragraph("Certificate of Sanitization", styles["Title"]),
        Paragraph(
            f"Certificate <b>{content.get('certificate_id', '')}</b> · unit "
            f"<b>{content.get('serial', '')}</b> ({content.get('sku', '')}) · issued "
            f"{content.get('issued_at', '')} · {content.get('standard', STANDARD)}",
            small,
        ),
        Spacer(1, 4 * mm),
    ]
    if reverification is not None:
        colour = {"failed": "#b00020", "withdrawn": "#8a5a00"}.get(
            str(reverification.get("status")), "#1d4e89"
        )
        story += [
            Paragraph(
                f"<font color='{colour}'><b>Re-verification</b> (recorded beside the signed "
                f"certificate): {escape(_standing(reverification))}</font>",
                small,
            ),
            Spacer(1, 3 * mm),
        ]
    for heading, rows in _rows(content):
        story.append(Paragraph(heading, styles["Heading4"]))
        table = Table(
            [[Paragraph(label, small), Paragraph(value, small)] for label, value in rows],
            colWidths=[55 * mm, 123 * mm],
        )
        table.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                    ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#eef2f5")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        story.append(table)
    story += [
        Spacer(1, 4 * mm),
        Paragraph("Digital signature", styles["Heading4"]),
        Paragraph(f"{ALGORITHM}: {signature}", mono),
        Spacer(1, 2 * mm),
        Paragraph(
            "Check it: save the JSON from GET /api/v1/units/{serial}/certificate and run "
            "<font face='Courier'>backhaul certificates verify FILE --public-key KEY.pem</font>; "
            "the public key is published at GET /api/v1/keys/certificates:",
            small,
        ),
        Paragraph(public_key_pem.decode().replace("\n", "<br/>"), mono),
    ]
    document.build(story)
    return buffer.getvalue()
