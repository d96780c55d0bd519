"""The installation's Ed25519 key (kept on disk, outside the database) and canonical JSON."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from backhaul.settings import get_settings

PRIVATE_KEY_FILE = "signing-key.pem"
PUBLIC_KEY_FILE = "signing-key.pub.pem"
SESSION_SECRET_FILE = "session-secret"


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON (sorted keys, no spaces, UTF-8): what hashes and signatures cover."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _keys_dir() -> Path:
    path = get_settings().keys_dir
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _write_whole(path: Path, data: bytes, mode: int = 0o600, *, replace: bool = False) -> None:
    """Write `data` to `path` (permissions exactly `mode`) so that it appears whole or not at
    all: under a temporary name first, then linked into place, so a thread or process that
    finds it never reads it half-written. Raise FileExistsError when `path` exists, unless
    `replace`."""
    partial = path.with_name(f".{path.name}.{secrets.token_hex(8)}.part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)  # whatever the umask
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(partial, path)
        else:
            os.link(partial, path)  # atomic, and fails when another writer got there first
    finally:
        partial.unlink(missing_ok=True)


def load_private_key() -> Ed25519PrivateKey:
    """The signing key, generated on first use into BACKHAUL_KEYS_DIR."""
    directory = _keys_dir()
    private_path = directory / PRIVATE_KEY_FILE
    if not private_path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            _write_whole(private_path, pem)
        except FileExistsError:
            pass  # another process won the race; load theirs
        else:  # replacing the public half of any earlier key
            _write_whole(
                directory / PUBLIC_KEY_FILE, public_key_pem(key.public_key()), 0o644, replace=True
            )
    stat = private_path.stat()
    return _parse_private(str(private_path), stat.st_ino, stat.st_mtime_ns)


@lru_cache(maxsize=8)
def _parse_private(path: str, _inode: int, _mtime_ns: int) -> Ed25519PrivateKey:
    # Parsing the PEM costs more than a signature; the file's identity keys the cache, so a
    # replaced key file is read again.
    loaded = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise RuntimeError(f"{path} is not an Ed25519 private key")
    return loaded


def public_key_pem(key: Ed25519PublicKey | None = None) -> bytes:
    """The public half in PEM, for anyone who wants to check a signature offline."""
    key = key or load_private_key().public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """Parse a PEM public key, refusing anything that is not Ed25519."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def sign(payload: Any) -> str:
    """Base64 Ed25519 signature over the canonical JSON of the payload."""
    return base64.b64encode(load_private_key().sign(canonical_json(payload))).decode()


def verify(payload: Any, signature: str, key: Ed25519PublicKey | None = None) -> bool:
    """Whether the signature covers exactly this payload under the key (default: our own)."""
    key = key or load_private_key().public_key()
    try:
        key.verify(base64.b64decode(signature, validate=True), canonical_json(payload))
    except (InvalidSignature, ValueError):
        return False
    return True


def session_secret() -> str:
    """The cookie-signing secret: BACKHAUL_SECRET_KEY, or one generated once into the keys dir."""
    configured = get_settings().secret_key
    if configured:
        return configured
    path = _keys_dir() / SESSION_SECRET_FILE
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # another process wrote it first
            _write_whole(path, secrets.token_urlsafe(48).encode())
    return path.read_text().strip()
