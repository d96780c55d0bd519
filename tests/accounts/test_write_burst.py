"""A burst of write requests larger than the server's thread pool completes.

On SQLite a write transaction holds the process's write lock from its first statement to its
commit. Whenever the lock is taken in one thread-pool trip and released in a later one (the
caller's token looked up in the request's transaction, then the endpoint; or the endpoint,
then the commit), more such requests than threads can leave every thread waiting for the lock
while the request holding it waits for a thread.
"""

from __future__ import annotations

import threading
from typing import Any

import anyio
import anyio.to_thread
import httpx

from tests.conftest import TokenFactory, bearer, site_payload

REQUESTS = 12
THREADS = 3


async def _burst(app: Any, tokens: list[str]) -> list[int]:
    statuses: list[int] = []
    anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://backhaul.test") as client:

        async def create_site(n: int) -> None:
            response = await client.post(
                "/api/v1/sites",
                json=site_payload(code=f"HUB-{n:02d}", name=f"Hub {n}"),
                headers=bearer(tokens[n]),  # a token of its own: nobody is cached yet
            )
            statuses.append(response.status_code)

        async with anyio.create_task_group() as group:
            for n in range(REQUESTS):
                group.start_soon(create_site, n)
    return statuses


def test_more_write_requests_than_threads_all_complete(app: Any, make_token: TokenFactory) -> None:
    tokens = [make_token("admin") for _ in range(REQUESTS)]
    statuses: list[int] = []
    # In a thread of its own: a deadlock cannot be cancelled (its threads are stuck), only seen.
    burst = threading.Thread(
        target=lambda: statuses.extend(anyio.run(_burst, app, tokens)), daemon=True
    )
    burst.start()
    burst.join(timeout=60)
    assert not burst.is_alive(), "the requests deadlocked on the write lock"
    assert statuses == [201] * REQUESTS


async def _mixed_burst(app: Any, token: str) -> list[tuple[str, int]]:
    """Site creations (their transaction takes the write lock on the event loop, then needs a
    default-pool thread) and steps (`run_write`: the lock is taken in a thread of the writes'
    own pool) at once, more of each than there are threads."""
    statuses: list[tuple[str, int]] = []
    anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://backhaul.test", headers=bearer(token)
    ) as client:
        hub = await client.post("/api/v1/sites", json=site_payload())
        assert hub.status_code == 201, hub.text

        async def create_site(n: int) -> None:
            payload = site_payload(code=f"HUB-{n:02d}", name=f"Hub {n}")
            response = await client.post("/api/v1/sites", json=payload)
            statuses.append(("site", response.status_code))

        async def receive_unknown(n: int) -> None:
            path = f"/api/v1/units/UNKNOWN-{n:03d}/steps/receive"
            response = await client.post(path, json={"site": "HUB-A"})
            statuses.append(("step", response.status_code))

        async with anyio.create_task_group() as group:
            for n in range(REQUESTS):
                group.start_soon(create_site, n)
                group.start_soon(receive_unknown, n)
    return statuses


def test_steps_and_other_writes_in_a_burst_larger_than_every_pool_all_complete(
    app: Any, make_token: TokenFactory
) -> None:
    token = make_token("admin")
    statuses: list[tuple[str, int]] = []
    burst = threading.Thread(
        target=lambda: statuses.extend(anyio.run(_mixed_burst, app, token)), daemon=True
    )
    burst.start()
    burst.join(timeout=60)
    assert not burst.is_alive(), "the requests deadlocked on the write lock"
    assert sorted(statuses) == [("site", 201)] * REQUESTS + [("step", 202)] * REQUESTS
