"""The installation's keys are generated once, on first use, by whichever thread or process
gets there first; the others must read the finished file, never a half-written one (16 racing
clients once got a 500 from a sanitize signing with an empty key file)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backhaul.kit import signing
from backhaul.settings import get_settings


class _SlowFile:
    """A file whose writes take a while: the window in which another thread may look."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def write(self, data: bytes) -> int:
        time.sleep(0.05)
        return int(self._handle.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> _SlowFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


@pytest.fixture
def fresh_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("BACKHAUL_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.delenv("BACKHAUL_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda *a, **k: _SlowFile(real_fdopen(*a, **k)))
    yield tmp_path / "keys"
    get_settings.cache_clear()


def _race(work: Any, threads: int = 8) -> list[Any]:
    start = threading.Barrier(threads)
    results: list[Any] = [None] * threads

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = work()
        except Exception as error:  # the assertion below shows it
            results[index] = error

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


def test_racing_first_signatures_all_use_the_one_key(fresh_keys: Path) -> None:
    results = _race(lambda: signing.load_private_key().public_key())
    assert not [r for r in results if isinstance(r, Exception)], results
    published = {signing.public_key_pem(key) for key in results}
    assert len(published) == 1
    assert (fresh_keys / signing.PUBLIC_KEY_FILE).read_bytes() in published
    assert sorted(p.name for p in fresh_keys.iterdir()) == [
        signing.PRIVATE_KEY_FILE,
        signing.PUBLIC_KEY_FILE,
    ]  # no temporary file left behind
    assert (fresh_keys / signing.PRIVATE_KEY_FILE).stat().st_mode & 0o777 == 0o600


def test_racing_first_sessions_all_get_the_one_cookie_secret(fresh_keys: Path) -> None:
    results = _race(signing.session_secret)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len(set(results)) == 1 and len(results[0]) >= 48


def test_a_new_key_replaces_the_public_half_of_an_earlier_one(fresh_keys: Path) -> None:
    old = signing.public_key_pem(signing.load_private_key().public_key())
    (fresh_keys / signing.PRIVATE_KEY_FILE).unlink()  # the key is lost: a new one is made
    new = signing.public_key_pem(signing.load_private_key().public_key())
    assert new != old
    assert (fresh_keys / signing.PUBLIC_KEY_FILE).read_bytes() == new
    assert (fresh_keys / signing.PUBLIC_KEY_FILE).stat().st_mode & 0o044  # others may read it
    assert len(list(fresh_keys.iterdir())) == 2  # no temporary file left behind
