"""Pure rules of wipe re-verification sampling (R2v3): whether a passed wipe is drawn, who may
re-verify it, and what a hold says. No session, no clock; the randomness is passed in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

METHODS = ("full", "sampling", "forensic")


class Chance(Protocol):
    """A source of uniform numbers in [0, 1): `secrets.SystemRandom()` in production, a seeded
    `random.Random` in tests."""

    def random(self) -> float: ...


def drawn(share: float, chance: Chance) -> bool:
    """Whether a wipe is drawn for re-verification: with probability `share` (0 never, 1 always)."""
    if share <= 0:
        return False
    if share >= 1:
        return True
    return chance.random() < share


@dataclass(frozen=True, slots=True)
class Wipe:
    """The people who did a wipe: whoever re-verifies it must be neither."""

    wiped_by: str
    wiped_by_id: int | None
    verified_by: str | None


def conflict_of_interest(wipe: Wipe, username: str, user_id: int | None) -> str | None:
    """Why this person may not re-verify the wipe, or None when they may."""
    if username == wipe.wiped_by or (user_id is not None and user_id == wipe.wiped_by_id):
        return f"{username} performed this wipe; re-verification needs another person"
    if wipe.verified_by is not None and username == wipe.verified_by:
        return f"{username} verified this wipe; re-verification needs another person"
    return None


def who_may(wipe: Wipe, site: str | None) -> str:
    """The people who may re-verify, in words."""
    excluded = f"other than {wipe.wiped_by} (who wiped it)"
    if wipe.verified_by:
        excluded += f" and {wipe.verified_by} (who verified it)"
    where = f" at {site}" if site else ""
    return f"a technician or supervisor{where} {excluded}"


def hold_message(serial: str, what: str, wipe: Wipe, site: str | None, share: float) -> str:
    """Why a hand-off is refused while a drawn wipe waits for its re-verification."""
    return (
        f"{what} is refused: re-verification is pending. Unit {serial}'s wipe was drawn at "
        f"random ({share:.0%} of wipes are) to be re-verified, and the unit may not leave "
        f"custody or be repackaged until {who_may(wipe, site)} records the result "
        f"(POST /api/v1/units/{serial}/reverification, the station page, or "
        f"`backhaul reverify record {serial}`)"
    )
