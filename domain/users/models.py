"""The people of CareGraph and their sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.principal import Role


@dataclass(frozen=True, slots=True)
class DoctorProfile:
    specialty: str
    bio: str | None = None


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    display_name: str
    role: Role
    created_at: datetime
    disabled: bool = False
    doctor_profile: DoctorProfile | None = None
    external_subject: str | None = None


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """A stored refresh token. Only the SHA-256 of the opaque token is ever kept."""

    id: str
    user_id: str
    family_id: str
    token_hash: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a verified access token says. ``issuer`` tells our tokens from Supabase's."""

    subject: str
    issuer: str
    email: str | None = None
    external: bool = False


@dataclass(frozen=True, slots=True)
class Session:
    access_token: str
    refresh_token: str
    expires_at: datetime
    user: User


@dataclass(frozen=True, slots=True)
class UserPage:
    users: list[User]
    has_next_page: bool
