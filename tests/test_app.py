"""The application's routing: the routers' order (busiest first, see `backhaul.app.ROUTERS`)
must never decide which endpoint answers a request."""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import Route

from backhaul.app import ROUTERS


def _routes() -> list[Route]:
    """Every route with its methods, in the order the application tries them."""
    return [route for router in ROUTERS for route in router.routes if isinstance(route, Route)]


def _example_path(route: Route) -> str:
    """A concrete path the route answers: each parameter filled with a value no literal segment
    uses (a `:path` parameter with two segments)."""
    return re.sub(
        r"\{(\w+)(:\w+)?\}",
        lambda match: "x-1/x-2" if match.group(2) == ":path" else "X-1",
        route.path,
    )


def _shadowing(routes: list[Route]) -> list[str]:
    found = []
    for index, route in enumerate(routes):
        path = _example_path(route)
        for earlier in routes[:index]:
            same_method = ((earlier.methods or set()) & (route.methods or set())) - {"HEAD"}
            if same_method and earlier.path_regex.fullmatch(path):
                found.append(f"{sorted(same_method)} {route.path} is answered by {earlier.path}")
    return found


def test_no_route_is_answered_by_an_earlier_one() -> None:
    routes = _routes()
    assert len(routes) > 100  # every router's routes, not an empty walk
    assert all(route.path_regex.fullmatch(_example_path(route)) for route in routes)
    assert _shadowing(routes) == []


def test_the_check_finds_a_shadowed_route() -> None:
    def endpoint(*_: Any) -> None: ...

    wide = Route("/api/v1/units/{serial}", endpoint, methods=["GET"])
    narrow = Route("/api/v1/units/import", endpoint, methods=["GET", "POST"])
    assert _shadowing([wide, narrow]) == [
        "['GET'] /api/v1/units/import is answered by /api/v1/units/{serial}"
    ]
    assert _shadowing([narrow, wide]) == []


def test_steps_and_lookups_are_routed_first() -> None:
    paths = [route.path for route in _routes()]
    assert paths.index("/api/v1/units/{serial}/steps/grade") < 20
    assert paths.index("/api/v1/units/{serial}") < 40
