"""Certificates of sanitization: NIST SP 800-88 fields, the PDF, the public key, and verification
that fails on any edit, on a wrong key, and on a certificate that does not match the record."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from backhaul.cli import app as cli
from backhaul.db import session_scope
from backhaul.kit import signing
from backhaul.processing import certificates
from tests.processing.conftest import INSPECT_OK, SANITIZE_OK, World, received

runner = CliRunner()


def _sanitized(world: World, serial: str = "RNG000001") -> dict[str, Any]:
    received(world, serial)
    assert world.step("tech_a", serial, "inspect", INSPECT_OK).status_code == 200
    response = world.step(
        "tech_a",
        serial,
        "sanitize",
        SANITIZE_OK | {"verified_by": "verifier.a", "technique": "crypto_erase"},
    )
    assert response.status_code == 200, response.text
    document = world.call("tech_a", "GET", f"/api/v1/units/{serial}/certificate").json()
    return document  # type: ignore[no-any-return]


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _leaves(inner, (*path, key))
    else:
        yield path


def _edited(content: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    changed = copy.deepcopy(content)
    holder = changed
    for key in path[:-1]:
        holder = holder[key]
    old = holder[path[-1]]
    holder[path[-1]] = (
        (not old)
        if isinstance(old, bool)
        else None
        if isinstance(old, str) and old == ""
        else f"{old}x"
        if isinstance(old, str)
        else "edited"
    )
    return changed


def test_the_certificate_carries_the_nist_sample_fields(world: World) -> None:
    content = _sanitized(world)["certificate"]
    performer = content["person_performing"]
    assert set(performer) == {"name", "title", "organization", "location", "contact"}
    assert performer["location"] == "Hub A (HUB-A, US)"
    assert performer["organization"] == "Hub A"
    # tech_a is an API key: its service user's record names it, its username is the contact
    assert performer["title"] == "technician" and performer["contact"].startswith("key-")
    assert content["person_validating"] | {"validated_at": None} == {
        "name": "Verifier.A",
        "title": "technician",
        "organization": "Hub A",
        "location": "Hub A (HUB-A, US)",
        "contact": "verifier.a",
        "validated_at": None,
    }
    brand = world.call("admin", "GET", "/api/v1/brands/default").json()
    assert content["media"] == {
        "make": brand["name"],
        "model": "Health ring (RNG-200)",
        "serial_number": "RNG000001",
        "media_type": "flash memory (embedded)",
        "source": "customer return",
        "pre_sanitization_confidentiality": "high",  # biometric data
    }
    sanitization = content["sanitization"]
    assert sanitization["method_type"] == "Purge"
    assert sanitization["method_used"] == "crypto erase"
    assert sanitization["tool"] == "WipeKit 4.2" and sanitization["tool_version"] == "4.2"
    assert sanitization["verification_method"] == "Full verification"
    assert sanitization["post_sanitization_destination"]
    assert sanitization["completed_at"] == content["issued_at"]
    validator = content["person_validating"]
    assert validator["name"] and validator["validated_at"] == content["issued_at"]
    assert content["verified_by"] == "verifier.a" and content["second_person_verified"] is True


def test_the_public_key_is_published_and_checks_the_signature(world: World) -> None:
    document = _sanitized(world)
    response = world.client.get("/api/v1/keys/certificates")  # no token needed
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-pem-file")
    key = signing.load_public_key(response.content)
    assert signing.verify(document["certificate"], document["signature"], key)


def test_the_pdf_names_the_unit_and_the_signature(world: World) -> None:
    document = _sanitized(world)
    response = world.call("tech_a", "GET", "/api/v1/units/RNG000001/certificate.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(response.content)
    text = "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    for expected in ("Certificate of Sanitization", "RNG000001", "Purge", "WipeKit 4.2"):
        assert expected in text
    assert document["signature"][:40] in text.replace("\r", "").replace("\n", "")
    other = world.call("tech_b", "GET", "/api/v1/units/RNG000001/certificate.pdf")
    assert other.status_code == 404  # another site's unit: not visible


def test_no_certificate_before_a_sanitize_pass(world: World) -> None:
    received(world, "SPK000001")
    response = world.call("tech_a", "GET", "/api/v1/units/SPK000001/certificate.pdf")
    assert response.status_code == 404


def test_any_edit_of_the_content_breaks_the_signature(world: World) -> None:
    document = _sanitized(world)
    content, signature = document["certificate"], document["signature"]
    key = signing.load_public_key(world.client.get("/api/v1/keys/certificates").content)
    assert signing.verify(content, signature, key)
    paths = list(_leaves(content))
    assert len(paths) > 30
    for path in paths:
        assert not signing.verify(_edited(content, path), signature, key), path
        removed = copy.deepcopy(content)
        holder = removed
        for step in path[:-1]:
            holder = holder[step]
        del holder[path[-1]]
        assert not signing.verify(removed, signature, key), path
    assert not signing.verify(content | {"extra": 1}, signature, key)
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert not signing.verify(content, flipped, key)


def _write(tmp_path: Path, name: str, document: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document, indent=2))
    return path


def _other_key(tmp_path: Path) -> Path:
    pem = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    path = tmp_path / "other.pem"
    path.write_bytes(pem)
    return path


def test_cli_verifies_offline_with_only_the_public_key(world: World, tmp_path: Path) -> None:
    document = _sanitized(world)
    key = tmp_path / "published.pem"
    key.write_bytes(world.client.get("/api/v1/keys/certificates").content)
    good = _write(tmp_path, "good.json", document)
    result = runner.invoke(cli, ["certificates", "verify", str(good), "--public-key", str(key)])
    assert result.exit_code == 0, result.output
    assert "certificate verifies" in result.output

    tampered = copy.deepcopy(document)
    tampered["certificate"]["sanitization"]["method_type"] = "Clear"
    bad = _write(tmp_path, "bad.json", tampered)
    result = runner.invoke(cli, ["certificates", "verify", str(bad), "--public-key", str(key)])
    assert result.exit_code == 1
    assert "does NOT verify" in result.output

    wrong = _other_key(tmp_path)
    result = runner.invoke(cli, ["certificates", "verify", str(good), "--public-key", str(wrong)])
    assert result.exit_code == 1


def test_cli_with_the_database_refuses_a_certificate_not_on_record(
    world: World, tmp_path: Path
) -> None:
    document = _sanitized(world)
    good = _write(tmp_path, "good.json", document)
    result = runner.invoke(cli, ["certificates", "verify", str(good), "--record"])
    assert result.exit_code == 0, result.output
    assert "content matches the record" in result.output

    # Signed by the installation's own key, so the signature holds, but not what was recorded:
    # an insider with the key cannot mint or alter certificates without the record showing it.
    forged_content = document["certificate"] | {"verification_result": "passed", "tool": "Other"}
    forged = {"certificate": forged_content, "signature": signing.sign(forged_content)}
    path = _write(tmp_path, "forged.json", forged)
    result = runner.invoke(cli, ["certificates", "verify", str(path), "--record"])
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.output

    unknown_content = document["certificate"] | {"certificate_id": "does-not-exist"}
    unknown = {"certificate": unknown_content, "signature": signing.sign(unknown_content)}
    path = _write(tmp_path, "unknown.json", unknown)
    result = runner.invoke(cli, ["certificates", "verify", str(path), "--record"])
    assert result.exit_code == 1

    other_unit = document["certificate"] | {"serial": "RNG999999"}
    with session_scope(write=False) as session:
        verdict = certificates.Verdict()
        certificates.verify_record(session, other_unit, signing.sign(other_unit), verdict)
    assert not verdict.ok


def test_cli_rejects_a_file_that_is_not_a_certificate(database: str, tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("[1, 2]")
    result = runner.invoke(cli, ["certificates", "verify", str(path)])
    assert result.exit_code == 2


@pytest.mark.parametrize("method", ["clear", "destroy"])
def test_unregulated_certificate_without_a_second_person(world: World, method: str) -> None:
    received(world, "SPK000002")
    world.step("tech_a", "SPK000002", "inspect", INSPECT_OK)
    response = world.step("tech_a", "SPK000002", "sanitize", SANITIZE_OK | {"method": method})
    assert response.status_code == 200, response.text
    content = world.call("tech_a", "GET", "/api/v1/units/SPK000002/certificate").json()[
        "certificate"
    ]
    assert content["person_validating"] is None
    assert content["media"]["pre_sanitization_confidentiality"] == "moderate"
    assert content["sanitization"]["method_type"] == method.title()
