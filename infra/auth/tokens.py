"""Access tokens: our own JWTs (HS256 with a generated secret, or RS256 with a configured key),
and, when configured, access tokens issued by Supabase Auth."""

from __future__ import annotations

import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey, RSAKey

from domain.errors import unauthenticated
from domain.users.models import AccessClaims, User

SECRET_FILE = "jwt-secret"
LEEWAY = timedelta(seconds=30)


def load_or_create_secret(data_dir: Path) -> bytes:
    """The HS256 secret: created once, on first run, readable by the owner alone.

    The secret is written to a private temporary file that is then hard-linked into place, so
    that processes starting together on one data directory never read a half-written file:
    the first link wins and every process uses its secret.
    """
    path = data_dir / SECRET_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return _read_secret(path)
    secret = secrets.token_urlsafe(48).encode()
    draft = data_dir / f".{SECRET_FILE}.{secrets.token_hex(8)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secret)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(draft, path)
    except FileExistsError:
        return _read_secret(path)
    finally:
        draft.unlink(missing_ok=True)
    return secret


def _read_secret(path: Path) -> bytes:
    secret = path.read_bytes().strip()
    if not secret:
        raise ValueError(f"{path} is empty; delete it to have a new secret generated")
    return secret


class JwtCodec:
    """Signs and verifies access tokens; refuses anything else, ``alg: none`` included."""

    def __init__(
        self,
        *,
        issuer: str,
        ttl: timedelta,
        secret: bytes | None = None,
        private_key_pem: bytes | None = None,
        supabase_secret: str = "",
    ) -> None:
        if private_key_pem:
            self._key: OctKey | RSAKey = RSAKey.import_key(private_key_pem)
            self._alg = "RS256"
        elif secret:
            self._key = OctKey.import_key(secret)
            self._alg = "HS256"
        else:
            raise ValueError("a secret or a private key is required")
        self._issuer = issuer
        self._ttl = ttl
        self._supabase = OctKey.import_key(supabase_secret.encode()) if supabase_secret else None

    def issue(self, user: User, now: datetime) -> tuple[str, datetime]:
        expires_at = now + self._ttl
        claims = {
            "iss": self._issuer,
            "sub": user.id,
            "role": user.role.value,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": secrets.token_hex(8),
        }
        return jwt.encode({"alg": self._alg, "typ": "JWT"}, claims, self._key), expires_at

    def verify(self, token: str, now: datetime) -> AccessClaims:
        ours = self._decode(token, self._key, self._alg)
        if ours is not None and ours.get("iss") == self._issuer:
            self._check_times(ours, now)
            return AccessClaims(subject=str(ours["sub"]), issuer=self._issuer)
        if self._supabase is not None:
            theirs = self._decode(token, self._supabase, "HS256")
            if theirs is not None and theirs.get("aud") == "authenticated":
                self._check_times(theirs, now)
                email = theirs.get("email")
                return AccessClaims(
                    subject=str(theirs["sub"]),
                    issuer=str(theirs.get("iss", "supabase")),
                    email=email if isinstance(email, str) else None,
                    external=True,
                )
        raise unauthenticated("Invalid access token")

    @staticmethod
    def _decode(token: str, key: OctKey | RSAKey, alg: str) -> dict[str, object] | None:
        try:
            decoded = jwt.decode(token, key, algorithms=[alg])
        except (JoseError, ValueError, TypeError):
            return None
        claims = dict(decoded.claims)
        return claims if isinstance(claims.get("sub"), str) and claims["sub"] else None

    @staticmethod
    def _check_times(claims: dict[str, object], now: datetime) -> None:
        exp = claims.get("exp")
        if not isinstance(exp, int | float):
            raise unauthenticated("Invalid access token")
        if datetime.fromtimestamp(exp, now.tzinfo) + LEEWAY <= now:
            raise unauthenticated("Access token expired; refresh the session")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and datetime.fromtimestamp(nbf, now.tzinfo) - LEEWAY > now:
            raise unauthenticated("Invalid access token")
