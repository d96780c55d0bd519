"""Roles, the acting principal, and what each role may do (one table, checked in services)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from backhaul.kit.errors import Forbidden


class Role(enum.StrEnum):
    """The five roles; spelled exactly like this in the API, the CLI and the pages."""

    admin = "admin"
    supervisor = "supervisor"
    technician = "technician"
    partner = "partner"
    analyst = "analyst"


ALL_ROLES = frozenset(Role)

# What each role may do. Scope (which brands and sites) is applied separately, by visibility.
PERMISSIONS: dict[str, frozenset[Role]] = {
    "catalog.read": ALL_ROLES,
    "catalog.write": frozenset({Role.admin}),
    # Uploading the image of a release registered by hash (the bytes must match that hash);
    # an upload that registers a new release also needs catalog.write.
    "firmware.upload": frozenset({Role.admin, Role.supervisor}),
    "firmware.download": frozenset({Role.admin, Role.supervisor, Role.technician}),
    "rigs.manage": frozenset({Role.admin, Role.supervisor}),
    "brands.write": frozenset({Role.admin}),
    "users.manage": frozenset({Role.admin}),
    "keys.manage": frozenset({Role.admin}),
    "audit.read": frozenset({Role.admin, Role.supervisor}),
    "outbox.read": frozenset({Role.admin}),
    "exceptions.read": frozenset({Role.admin, Role.supervisor}),
    "exceptions.resolve": frozenset({Role.admin, Role.supervisor}),
    "units.read": ALL_ROLES,
    "units.import": frozenset({Role.admin}),
    "steps.intake": frozenset({Role.admin, Role.supervisor}),
    "steps.process": frozenset({Role.admin, Role.supervisor, Role.technician}),
    "steps.override": frozenset({Role.admin, Role.supervisor}),
    # Re-verification of wipes drawn at random: another technician or a supervisor records it.
    "reverifications.read": frozenset({Role.admin, Role.supervisor, Role.technician, Role.analyst}),
    "reverifications.record": frozenset({Role.supervisor, Role.technician}),
    # Withdrawing the pending draw of a written-off unit (lost, stolen, destroyed): whoever may
    # override the route that wrote it off.
    "reverifications.withdraw": frozenset({Role.admin, Role.supervisor}),
    "overrides.request": frozenset({Role.admin, Role.supervisor, Role.technician}),
    "overrides.read": frozenset({Role.admin, Role.supervisor, Role.technician}),
    "inventory.read": frozenset({Role.admin, Role.supervisor, Role.technician, Role.analyst}),
    "planning.read": frozenset({Role.admin, Role.supervisor, Role.analyst}),
    "planning.import": frozenset({Role.admin, Role.analyst}),
    "returns.read": frozenset({Role.admin, Role.supervisor, Role.analyst}),
    "returns.create": frozenset({Role.admin, Role.supervisor}),
    "returns.manage": frozenset({Role.admin, Role.supervisor}),
    "policies.write": frozenset({Role.admin}),
}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: a person or an API key's service user, with their role and scope.

    `brand_ids` / `site_ids` of None mean "not restricted on that dimension".
    """

    user_id: int | None
    username: str
    display_name: str
    role: Role
    brand_ids: frozenset[int] | None = None
    site_ids: frozenset[int] | None = None
    via: str = "user"  # "user" (password / session), "key" (API token) or "system" (CLI, jobs)

    def can(self, permission: str) -> bool:
        """Whether the role allows the permission (unknown permissions are denied)."""
        return self.role in PERMISSIONS.get(permission, frozenset())

    def require(self, permission: str) -> None:
        """Raise Forbidden unless the role allows the permission."""
        if not self.can(permission):
            raise Forbidden(f"the {self.role.value} role may not do '{permission}'")

    def sees_brand(self, brand_id: int) -> bool:
        """Whether the brand is inside this actor's scope."""
        return self.brand_ids is None or brand_id in self.brand_ids

    def sees_site(self, site_id: int | None) -> bool:
        """Whether the site is inside this actor's scope (objects at no site need no site scope)."""
        return self.site_ids is None or (site_id is not None and site_id in self.site_ids)


SYSTEM = Actor(
    user_id=None, username="system", display_name="Backhaul (system)", role=Role.admin, via="system"
)


def cli_actor(username: str = "cli") -> Actor:
    """The actor for a command run by an operator at the shell (full rights, named in the audit)."""
    return Actor(
        user_id=None,
        username=username,
        display_name=f"CLI ({username})",
        role=Role.admin,
        via="system",
    )
