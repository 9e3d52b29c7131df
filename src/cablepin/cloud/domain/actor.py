"""Who is acting: the authenticated user as the rules see them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Actor", "Role"]


class Role(StrEnum):
    DRIVER = "driver"
    FLEET_MANAGER = "fleet_manager"
    SUPPORT = "support"


@dataclass(frozen=True)
class Actor:
    id: int
    email: str
    name: str
    role: Role
    org_id: int | None  # None for support staff, who act across organisations
    org_name: str | None = None

    @property
    def is_support(self) -> bool:
        return self.role is Role.SUPPORT

    def sees_org(self, org_id: int | None) -> bool:
        """Support sees every organisation; everyone else only their own."""
        return self.is_support or (self.org_id is not None and self.org_id == org_id)
