"""Video rooms on LiveKit: access tokens signed with livekit-api, rooms made through RoomService.

With ``CAREGRAPH_LIVEKIT_URL`` set, each call's room is created on that server before a token
is handed out (idempotent in LiveKit: an existing room is returned as it is), at most two
participants, closed soon after it empties. With only a public URL, key and secret (a dev
server, ``livekit-server --dev``), tokens are signed and LiveKit creates the room on first join.
Without settings every join answers that video is not configured, and nothing else fails.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import aiohttp
from livekit import api

from domain.scheduling.ports import RoomPass, VideoRooms, VideoUnavailable
from infra.settings import Settings

log = logging.getLogger(__name__)

MAX_PARTICIPANTS = 2
EMPTY_TIMEOUT = timedelta(minutes=5)
REQUEST_TIMEOUT = timedelta(seconds=10)
# LiveKit writes ``exp`` as whole seconds of its own clock: a second of margin keeps the
# token's expiry at or before the appointment's end.
EXPIRY_MARGIN = timedelta(seconds=1)
NOT_CONFIGURED = (
    "Video calls are not configured on this server: set CAREGRAPH_LIVEKIT_URL (or "
    "CAREGRAPH_LIVEKIT_PUBLIC_URL), CAREGRAPH_LIVEKIT_API_KEY and CAREGRAPH_LIVEKIT_API_SECRET"
)


def client_url(url: str) -> str:
    """The address a LiveKit client SDK connects to: WebSocket scheme, same host."""
    for plain, socket in (("https://", "wss://"), ("http://", "ws://")):
        if url.startswith(plain):
            return socket + url[len(plain):]
    return url


class LiveKitRooms:
    def __init__(
        self,
        *,
        api_url: str,
        public_url: str,
        api_key: str,
        api_secret: str,
        empty_timeout: timedelta = EMPTY_TIMEOUT,
        max_participants: int = MAX_PARTICIPANTS,
    ) -> None:
        self._api_url = api_url
        self._public_url = client_url(public_url or api_url)
        self._key = api_key
        self._secret = api_secret
        self._empty_timeout = empty_timeout
        self._max_participants = max_participants

    async def open_room(self, room_name: str) -> None:
        if not self._api_url:
            return
        request = api.CreateRoomRequest(
            name=room_name,
            empty_timeout=int(self._empty_timeout.total_seconds()),
            max_participants=self._max_participants,
        )
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT.total_seconds())
        try:
            # The client owns an aiohttp session, which belongs to the running loop: made here,
            # per call, never at import or start-up time.
            async with api.LiveKitAPI(self._api_url, self._key, self._secret,
                                      timeout=timeout) as livekit:
                await livekit.room.create_room(request)
        except (aiohttp.ClientError, TimeoutError, api.TwirpError) as error:
            log.warning("LiveKit did not create room %s: %s", room_name, error)
            raise VideoUnavailable(
                "The video service is not answering; try again in a moment"
            ) from error

    def admit(
        self, *, room_name: str, identity: str, name: str, expires_at: datetime
    ) -> RoomPass:
        ttl = expires_at - datetime.now(UTC) - EXPIRY_MARGIN
        if ttl <= timedelta(0):
            raise VideoUnavailable("This call has ended")
        token = (
            api.AccessToken(self._key, self._secret)
            .with_identity(identity)
            .with_name(name)
            .with_grants(api.VideoGrants(room_join=True, room=room_name))
            .with_ttl(ttl)
            .to_jwt()
        )
        return RoomPass(server_url=self._public_url, token=token)


class UnconfiguredRooms:
    """Stands in when LiveKit is not configured: the server runs, joining a call says why not."""

    async def open_room(self, room_name: str) -> None:
        raise VideoUnavailable(NOT_CONFIGURED)

    def admit(
        self, *, room_name: str, identity: str, name: str, expires_at: datetime
    ) -> RoomPass:
        raise VideoUnavailable(NOT_CONFIGURED)


def video_rooms(settings: Settings) -> VideoRooms:
    url, public = settings.livekit_url, settings.livekit_public_url
    if settings.livekit_api_key and settings.livekit_api_secret and (url or public):
        return LiveKitRooms(
            api_url=url,
            public_url=public,
            api_key=settings.livekit_api_key,
            api_secret=settings.livekit_api_secret,
        )
    return UnconfiguredRooms()
