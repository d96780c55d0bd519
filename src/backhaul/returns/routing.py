"""Routing as a pure function: which hub a return goes to, and why.

Rules, in order (each cited in the answer's `why`):
  R1 capabilities: a hub must have every capability the product's procedure needs (wipe level,
     second verifier for regulated products, flash, inspection, and the product's own list);
  R2 hazard: a unit with a damaged battery travels by ground only, so only hubs in a region
     reachable by ground from the customer's; a hub that can quarantine batteries is preferred;
  R3 region: a hub in the customer's region (no customs), then one inside the same customs
     union, then a ground-reachable one, then any (cross-border, with customs data);
  R4 backlog: among equals, the hub with the fewest open cases and units in process.
If no hub has every capability, the closest best-equipped one is chosen and the missing
capabilities are named, so that a person can arrange a transfer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BASE_CAPABILITIES = ("inspect", "flash")


@dataclass(frozen=True, slots=True)
class Hub:
    """A hub as routing sees it."""

    code: str
    region: str
    capabilities: frozenset[str]
    backlog: int = 0


@dataclass(frozen=True, slots=True)
class Shipment:
    """What routing needs to know about the return."""

    region: str
    regulated: str
    battery: str
    battery_damaged: bool
    product_capabilities: tuple[str, ...] = ()
    ground_regions: tuple[str, ...] = ()
    customs_union: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    """Where to send the unit, how, and why."""

    site: str | None
    ground_only: bool
    cross_border: bool
    missing: tuple[str, ...]
    why: tuple[str, ...] = field(default_factory=tuple)


def required_capabilities(shipment: Shipment) -> tuple[str, ...]:
    """What a hub needs to take this product through its procedure."""
    needed = list(BASE_CAPABILITIES)
    if shipment.regulated != "none":
        needed += ["wipe:purge", "second_verifier"]
    else:
        needed.append("wipe:clear")
    needed += shipment.product_capabilities
    return tuple(dict.fromkeys(needed))


def _closeness(shipment: Shipment, hub: Hub) -> int:
    """0: same region; 1: same customs union; 2: ground-reachable; 3: anywhere else."""
    if hub.region == shipment.region:
        return 0
    if hub.region in shipment.customs_union:
        return 1
    if hub.region in shipment.ground_regions:
        return 2
    return 3


def route(shipment: Shipment, hubs: list[Hub]) -> Route:
    """Choose the destination hub for a return."""
    needed = required_capabilities(shipment)
    why = [f"R1 the procedure needs {', '.join(needed)}"]
    ground_only = shipment.battery_damaged and shipment.battery != "none"
    candidates = list(hubs)
    if ground_only:
        reachable = {shipment.region, *shipment.ground_regions}
        candidates = [hub for hub in hubs if hub.region in reachable]
        why.append(
            "R2 damaged battery: ground transport only, to a hub in " + ", ".join(sorted(reachable))
        )
    if not candidates:
        why.append("no hub can be reached by ground: a person must arrange the transport")
        return Route(None, ground_only, False, needed, tuple(why))

    def missing(hub: Hub) -> tuple[str, ...]:
        return tuple(c for c in needed if c not in hub.capabilities)

    def key(hub: Hub) -> tuple[int, int, int, int, str]:
        quarantine = 0 if (not ground_only or "battery_quarantine" in hub.capabilities) else 1
        return (len(missing(hub)), quarantine, _closeness(shipment, hub), hub.backlog, hub.code)

    ranked = sorted(candidates, key=key)
    chosen = ranked[0]
    lacking = missing(chosen)
    for hub in ranked[1:]:
        if missing(hub) and not lacking:
            why.append(f"R1 {hub.code} lacks {', '.join(missing(hub))}")
    if lacking:
        why.append(f"R1 no hub has everything; {chosen.code} lacks {', '.join(lacking)}")
    if ground_only and "battery_quarantine" in chosen.capabilities:
        why.append(f"R2 {chosen.code} can quarantine batteries")
    closeness = _closeness(shipment, chosen)
    cross_border = closeness not in (0, 1)
    where = {
        0: f"R3 {chosen.code} is in the customer's region ({shipment.region})",
        1: f"R3 {chosen.code} is inside the customs union of {shipment.region}",
        2: f"R3 {chosen.code} ({chosen.region}) is reachable by ground from {shipment.region}",
        3: f"R3 {chosen.code} ({chosen.region}) is the nearest hub able to do the work",
    }[closeness]
    if cross_border:
        where += "; cross-border: customs data on the label"
    why.append(where)
    peers = [h for h in ranked[1:] if key(h)[:3] == key(chosen)[:3]]
    if peers:
        why.append(
            f"R4 fewest in process: {chosen.code} {chosen.backlog}, "
            + ", ".join(f"{h.code} {h.backlog}" for h in peers)
        )
    return Route(chosen.code, ground_only, cross_border, lacking, tuple(why))
