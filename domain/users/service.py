"""The users subgraph's rules: accounts, sessions, profiles, roles, and who may see whom."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from domain.audit import AuditEvent, AuditLog
from domain.clock import Clock, utc_now
from domain.errors import DomainError, ErrorCode, bad_input, forbidden, not_found, unauthenticated
from domain.principal import Principal, Role, require, require_role
from domain.users.models import DoctorProfile, RefreshToken, Session, User, UserPage
from domain.users.ports import (
    AccessTokenCodec,
    AttemptLimiter,
    CareRelations,
    EmailTaken,
    PasswordHasher,
    RefreshTokenRepository,
    UserRepository,
)

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
MAX_NAME = 100
MAX_BIO = 2000
DEFAULT_SPECIALTY = "General practice"
INVALID_CREDENTIALS = "Invalid email or password"
TOO_MANY_ATTEMPTS = "Too many failed sign-ins for this account; try again later"


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 254 or not EMAIL.match(email):
        raise bad_input("Enter a valid email address", field="email")
    return email


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise bad_input(
            f"A password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters", field="password"
        )
    return password


def check_text(value: str, *, field: str, limit: int) -> str:
    value = value.strip()
    if not value or len(value) > limit:
        raise bad_input(f"{field} needs 1 to {limit} characters", field=field)
    return value


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserService:
    """Sign-up, sign-in, token rotation, profiles, roles. Every read goes through ``visible``."""

    def __init__(
        self,
        *,
        users: UserRepository,
        refresh_tokens: RefreshTokenRepository,
        hasher: PasswordHasher,
        tokens: AccessTokenCodec,
        audit: AuditLog,
        care_relations: CareRelations,
        attempts: AttemptLimiter | None = None,
        refresh_token_ttl: timedelta = timedelta(days=7),
        clock: Clock = utc_now,
    ) -> None:
        self._attempts = attempts
        self._users = users
        self._refresh_tokens = refresh_tokens
        self._hasher = hasher
        self._tokens = tokens
        self._audit = audit
        self.care_relations = care_relations
        self._refresh_ttl = refresh_token_ttl
        self._clock = clock
        # A real hash to verify against when the e-mail is unknown, so that both paths cost
        # the same and response times do not reveal which addresses have accounts.
        self._dummy_hash = hasher.hash(secrets.token_urlsafe(16))

    # ---- accounts and sessions

    async def sign_up(
        self, *, email: str, password: str, display_name: str, request_id: str = ""
    ) -> Session:
        user = await self.create_user(
            email=email,
            password=password,
            display_name=display_name,
            role=Role.PATIENT,
            request_id=request_id,
        )
        return await self._start_session(user, family_id=str(uuid.uuid4()))

    async def create_user(
        self,
        *,
        email: str,
        password: str | None,
        display_name: str,
        role: Role,
        specialty: str | None = None,
        actor_id: str | None = None,
        request_id: str = "",
    ) -> User:
        """Create an account. Used by sign-up, by the operator CLI and by the demo loader.

        ``password=None`` makes an account that cannot sign in with a password; an empty
        string is a password like any other, and too short.
        """
        email = normalize_email(email)
        password_hash = (
            await self._hash(check_password(password)) if password is not None else None
        )
        profile = None
        if role is Role.DOCTOR:
            profile = DoctorProfile(
                specialty=check_text(
                    specialty or DEFAULT_SPECIALTY, field="specialty", limit=MAX_NAME
                )
            )
        user = User(
            id=str(uuid.uuid4()),
            email=email,
            display_name=check_text(display_name, field="displayName", limit=MAX_NAME),
            role=role,
            created_at=self._clock(),
            doctor_profile=profile,
        )
        try:
            await self._users.add(user, password_hash)
        except EmailTaken:
            raise DomainError(
                ErrorCode.CONFLICT, "An account with this email exists", field="email"
            ) from None
        await self._log(actor_id or user.id, "user.create", user.id, request_id)
        return user

    async def sign_in(self, *, email: str, password: str, request_id: str = "") -> Session:
        email = email.strip().lower()
        attempts_key = f"sign-in:{email}"
        if self._attempts is not None and await self._attempts.blocked(attempts_key):
            raise DomainError(ErrorCode.RATE_LIMITED, TOO_MANY_ATTEMPTS)
        found = await self._users.credentials(email)
        user, password_hash = found if found is not None else (None, None)
        if user is None or password_hash is None:
            await self._verify(self._dummy_hash, password)
            await self._failed(attempts_key)
            raise unauthenticated(INVALID_CREDENTIALS)
        if not await self._verify(password_hash, password):
            await self._failed(attempts_key)
            await self._log(user.id, "session.sign_in_failed", user.id, request_id)
            raise unauthenticated(INVALID_CREDENTIALS)
        if self._attempts is not None:
            await self._attempts.clear(attempts_key)
        if user.disabled:
            raise unauthenticated("This account is disabled")
        if self._hasher.needs_rehash(password_hash):
            await self._users.set_password_hash(user.id, await self._hash(password))
        await self._log(user.id, "session.sign_in", user.id, request_id)
        return await self._start_session(user, family_id=str(uuid.uuid4()))

    # Argon2 takes tens of milliseconds of CPU on purpose; it releases the GIL, so a worker
    # thread keeps the event loop serving everyone else meanwhile.
    async def _verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self._hasher.verify, password_hash, password)

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def _failed(self, attempts_key: str) -> None:
        if self._attempts is not None:
            await self._attempts.failure(attempts_key)

    async def refresh(self, *, refresh_token: str, request_id: str = "") -> Session:
        """Rotate a refresh token. Presenting a rotated token again ends its whole family."""
        now = self._clock()
        stored = await self._refresh_tokens.by_hash(hash_refresh_token(refresh_token))
        if stored is None or stored.expires_at <= now:
            raise unauthenticated("This session has ended; sign in again")
        if stored.revoked_at is not None or await self._refresh_tokens.family_revoked(
            stored.family_id
        ):
            await self._refresh_tokens.revoke_family(stored.family_id, now)
            raise unauthenticated("This session has ended; sign in again")
        if stored.used_at is not None or not await self._refresh_tokens.mark_used(stored.id, now):
            await self._refresh_tokens.revoke_family(stored.family_id, now)
            await self._log(stored.user_id, "session.reuse_detected", stored.user_id, request_id)
            raise unauthenticated("This session has ended; sign in again")
        user = await self._get(stored.user_id)
        if user is None or user.disabled:
            raise unauthenticated("This account is disabled")
        return await self._start_session(user, family_id=stored.family_id)

    async def sign_out(self, *, refresh_token: str, request_id: str = "") -> bool:
        stored = await self._refresh_tokens.by_hash(hash_refresh_token(refresh_token))
        if stored is None:
            return False
        ended = await self._refresh_tokens.revoke_family(stored.family_id, self._clock())
        await self._log(stored.user_id, "session.sign_out", stored.user_id, request_id)
        return ended > 0

    async def authenticate(self, access_token: str, *, request_id: str = "") -> Principal:
        """Turn a bearer token into a principal; a disabled account stops here at once."""
        principal, _ = await self.authenticate_user(access_token, request_id=request_id)
        return principal

    async def authenticate_user(
        self, access_token: str, *, request_id: str = ""
    ) -> tuple[Principal, User]:
        """Like ``authenticate``, with the caller's own record, which they may always read."""
        claims = self._tokens.verify(access_token, self._clock())
        if claims.external:
            user = await self._users.by_external_subject(claims.subject)
            if user is None:
                user = await self._provision_external(claims.subject, claims.email)
        else:
            user = await self._get(claims.subject)
        if user is None or user.disabled:
            raise unauthenticated("This account is disabled or no longer exists")
        return Principal(user_id=user.id, role=user.role, request_id=request_id), user

    async def _provision_external(self, subject: str, email: str | None) -> User:
        try:
            address = normalize_email(email or "")
        except DomainError:
            raise unauthenticated("The identity provider's token carries no valid email") from None
        user = User(
            id=str(uuid.uuid4()),
            email=address,
            display_name=address.split("@", 1)[0][:MAX_NAME] or "Patient",
            role=Role.PATIENT,
            created_at=self._clock(),
            external_subject=subject,
        )
        try:
            await self._users.add(user, None)
        except EmailTaken:
            # Two first requests raced, or the address has a local account: link by subject only.
            existing = await self._users.by_external_subject(subject)
            if existing is None:
                raise unauthenticated(
                    "An account with this email exists; sign in with it"
                ) from None
            return existing
        return user

    async def _start_session(self, user: User, *, family_id: str) -> Session:
        now = self._clock()
        access_token, expires_at = self._tokens.issue(user, now)
        refresh_token = secrets.token_urlsafe(32)
        await self._refresh_tokens.add(
            RefreshToken(
                id=str(uuid.uuid4()),
                user_id=user.id,
                family_id=family_id,
                token_hash=hash_refresh_token(refresh_token),
                issued_at=now,
                expires_at=now + self._refresh_ttl,
            )
        )
        return Session(access_token, refresh_token, expires_at, user)

    # ---- reading

    async def get_users(
        self, viewer: Principal | None, user_ids: Sequence[str]
    ) -> list[User | None]:
        """Users in the order asked; None where the record is absent or not the viewer's to see."""
        who = require(viewer)
        rows = await self._users.get_many(list(dict.fromkeys(user_ids)))
        found = {user.id: user for user in rows}
        undecided = [
            uid for uid, user in found.items() if not self._visible_without_relation(who, user)
        ]
        related = (
            await self.care_relations.related_among(who.user_id, undecided) if undecided else set()
        )
        return [
            user
            if user is not None
            and (user.id in related or self._visible_without_relation(who, user))
            else None
            for user in (found.get(uid) for uid in user_ids)
        ]

    async def get_user(self, viewer: Principal | None, user_id: str) -> User:
        [user] = await self.get_users(viewer, [user_id])
        if user is None:
            raise not_found("User")
        return user

    async def doctors(
        self,
        viewer: Principal | None,
        *,
        specialty: str | None,
        after: tuple[str, str] | None,
        first: int,
    ) -> UserPage:
        require(viewer)
        rows = await self._users.doctors(
            specialty=specialty.strip() if specialty else None, after=after, limit=first + 1
        )
        return UserPage(users=rows[:first], has_next_page=len(rows) > first)

    @staticmethod
    def _visible_without_relation(who: Principal, user: User) -> bool:
        if user.id == who.user_id or who.role is Role.ADMIN:
            return True
        # The doctor directory is public to every signed-in caller; disabled doctors leave it.
        return user.role is Role.DOCTOR and not user.disabled

    async def _get(self, user_id: str) -> User | None:
        found = await self._users.get_many([user_id])
        return found[0] if found else None

    # ---- changing

    async def update_profile(
        self,
        viewer: Principal | None,
        *,
        display_name: str | None = None,
        specialty: str | None = None,
        bio: str | None = None,
    ) -> User:
        who = require(viewer)
        user = await self.get_user(who, who.user_id)
        if display_name is not None:
            user = replace(
                user, display_name=check_text(display_name, field="displayName", limit=MAX_NAME)
            )
        if specialty is not None or bio is not None:
            if user.role is not Role.DOCTOR or user.doctor_profile is None:
                raise bad_input("Only doctors have a specialty and a bio", field="specialty")
            profile = user.doctor_profile
            if specialty is not None:
                profile = replace(
                    profile, specialty=check_text(specialty, field="specialty", limit=MAX_NAME)
                )
            if bio is not None:
                if len(bio) > MAX_BIO:
                    raise bad_input(f"bio has at most {MAX_BIO} characters", field="bio")
                profile = replace(profile, bio=bio.strip() or None)
            user = replace(user, doctor_profile=profile)
        await self._users.save_profile(user)
        await self._log(who.user_id, "user.update_profile", user.id, who.request_id)
        return user

    async def set_role(self, viewer: Principal | None, *, user_id: str, role: Role) -> User:
        admin = require_role(viewer, Role.ADMIN)
        if user_id == admin.user_id:
            raise forbidden("An admin cannot change their own role")
        user = await self.get_user(admin, user_id)
        profile = user.doctor_profile
        if role is Role.DOCTOR and profile is None:
            profile = DoctorProfile(specialty=DEFAULT_SPECIALTY)
        user = replace(user, role=role, doctor_profile=profile if role is Role.DOCTOR else None)
        await self._users.set_role(user)
        await self._log(admin.user_id, f"user.set_role:{role.value}", user.id, admin.request_id)
        return user

    async def disable_user(self, viewer: Principal | None, *, user_id: str) -> User:
        admin = require_role(viewer, Role.ADMIN)
        if user_id == admin.user_id:
            raise forbidden("An admin cannot disable their own account")
        user = replace(await self.get_user(admin, user_id), disabled=True)
        await self._users.disable(user.id)
        await self._refresh_tokens.revoke_user(user.id, self._clock())
        await self._log(admin.user_id, "user.disable", user.id, admin.request_id)
        return user

    async def _log(self, actor_id: str | None, action: str, user_id: str, request_id: str) -> None:
        await self._audit.record(
            AuditEvent(
                actor_id=actor_id,
                action=action,
                record_type="User",
                record_id=user_id,
                request_id=request_id,
                at=self._clock(),
            )
        )
