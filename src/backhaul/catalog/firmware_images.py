"""The firmware image store: images on disk under their SHA-256 (`ab/abcd…`), written through a
temporary file while hashing, so that an image is never held in memory and never half-stored."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from starlette.concurrency import run_in_threadpool

from backhaul.kit.errors import TooLarge
from backhaul.settings import get_settings

CHUNK = 1024 * 1024
INCOMING = ".incoming"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ImageTooLarge(TooLarge):
    """An upload over `BACKHAUL_FIRMWARE_MAX_BYTES`."""

    title = "Firmware image too large"


@dataclass
class StagedImage:
    """An image written to a temporary file in the store, with the hash and size it really has."""

    path: Path
    sha256: str
    size: int

    def discard(self) -> None:
        """Remove the temporary file (nothing happens once it has been kept)."""
        self.path.unlink(missing_ok=True)


def store_dir() -> Path:
    """The folder the images live in."""
    return get_settings().firmware_dir


def image_path(sha256: str) -> Path:
    """Where the image with this SHA-256 is (or would be) stored."""
    if not _SHA256.match(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return store_dir() / sha256[:2] / sha256


def is_stored(sha256: str) -> bool:
    """Whether the store holds the image with this SHA-256."""
    return image_path(sha256).is_file()


def _too_large(limit: int) -> ImageTooLarge:
    return ImageTooLarge(
        f"the image is larger than the {limit:,} bytes allowed (BACKHAUL_FIRMWARE_MAX_BYTES)",
        field="image",
        max_bytes=limit,
    )


class _Writer:
    """A temporary file in the store that hashes and counts what is written to it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        folder = store_dir() / INCOMING
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{uuid.uuid4().hex}.part"
        self.handle: BinaryIO = self.path.open("xb")
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise _too_large(self.limit)
        self.digest.update(chunk)
        self.handle.write(chunk)

    def finish(self) -> StagedImage:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        return StagedImage(self.path, self.digest.hexdigest(), self.size)

    def abandon(self) -> None:
        self.handle.close()
        self.path.unlink(missing_ok=True)


def stage(chunks: Iterable[bytes], limit: int | None = None) -> StagedImage:
    """Write the chunks to a temporary file in the store; refuse (and remove it) past `limit`."""
    writer = _Writer(limit if limit is not None else get_settings().firmware_max_bytes)
    try:
        for chunk in chunks:
            writer.write(chunk)
        return writer.finish()
    except BaseException:
        writer.abandon()
        raise


async def stage_stream(chunks: AsyncIterable[bytes], limit: int | None = None) -> StagedImage:
    """`stage` for a request body arriving in chunks (disk writes off the event loop)."""
    writer = await run_in_threadpool(
        _Writer, limit if limit is not None else get_settings().firmware_max_bytes
    )
    try:
        async for chunk in chunks:
            if chunk:
                await run_in_threadpool(writer.write, chunk)
        return await run_in_threadpool(writer.finish)
    except BaseException:
        await run_in_threadpool(writer.abandon)
        raise


def read_file(handle: BinaryIO, on_chunk: Callable[[int], None] | None = None) -> Iterable[bytes]:
    """A file's content in chunks, calling `on_chunk(size)` after each (for progress bars)."""
    while chunk := handle.read(CHUNK):
        if on_chunk is not None:
            on_chunk(len(chunk))
        yield chunk


def keep(staged: StagedImage) -> Path:
    """Move a staged image to its content-addressed place (atomic; same bytes twice: one file)."""
    target = image_path(staged.sha256)
    if target.is_file():
        staged.discard()
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged.path, target)
    return target
