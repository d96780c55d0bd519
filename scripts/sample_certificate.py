"""Render a sample certificate of sanitization (PDF and PNG) for the docs:
`.venv/bin/python scripts/sample_certificate.py` writes docs/images/certificate-sample.{pdf,png}."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pypdfium2 as pdfium

os.environ["BACKHAUL_KEYS_DIR"] = tempfile.mkdtemp()  # a throwaway key: this is a sample

from backhaul.catalog.models import Regulated  # noqa: E402
from backhaul.kit import signing  # noqa: E402
from backhaul.processing import certificates  # noqa: E402
from backhaul.processing.schemas import SanitizeIn  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "images"


def main() -> None:
    product = SimpleNamespace(
        sku="RNG-200", name="Lumen Health Ring", brand=SimpleNamespace(name="Lumen Devices")
    )
    data = SanitizeIn.model_validate(
        {
            "method": "purge",
            "technique": "crypto_erase",
            "tool": "WipeKit 4.2",
            "verification": "full",
            "verification_result": "passed",
            "account": "deactivated",
            "account_confirmation": {
                "source": "device_cloud",
                "reference": "DEACT-7Q4M2X8R",
                "response": {
                    "url": "https://cloud.lumen.example/devices/RNG004217/deactivation",
                    "status_code": 200,
                    "body": '{"status": "deactivated", "reference": "DEACT-7Q4M2X8R"}',
                    "attempts": [
                        {"attempt": 1, "status_code": 503, "elapsed_ms": 212.0, "retry_in_s": 0.6},
                        {"attempt": 2, "status_code": 200, "elapsed_ms": 148.0},
                    ],
                },
            },
            "verified_by": "j.okafor",
            "media_type": "eMMC flash, 8 GB",
        }
    )
    site = SimpleNamespace(name="Reno Returns Hub", code="HUB-RNO", region="US")
    performer = certificates.Person(
        "Maria Lopez",
        "technician",
        site.name,
        "Reno Returns Hub (HUB-RNO, US)",
        "m.lopez@example.com",
    )
    verifier = certificates.Person(
        "James Okafor",
        "supervisor",
        site.name,
        "Reno Returns Hub (HUB-RNO, US)",
        "j.okafor@example.com",
    )
    content = certificates.build(
        certificate_id="01J9ZK3V7Q4M2X8R5T6Y0B1C2D",
        serial="RNG004217",
        product=product,  # type: ignore[arg-type]
        regulated=Regulated.biometric,
        data=data,
        performer=performer,
        performed_by="m.lopez",
        verifier=verifier,
        verified_by="j.okafor",
        site_code=site.code,
        now=datetime(2026, 7, 14, 15, 42, 7, tzinfo=UTC),
    )
    pdf = certificates.render_pdf(content, signing.sign(content), signing.public_key_pem())
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "certificate-sample.pdf").write_bytes(pdf)
    page = pdfium.PdfDocument(pdf)[0]
    page.render(scale=1.6).to_pil().save(OUT / "certificate-sample.png", optimize=True)
    print(OUT / "certificate-sample.png")


if __name__ == "__main__":
    main()
