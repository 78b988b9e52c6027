"""The LiveKit adapter: tokens that verify with livekit's TokenVerifier, rooms created through
RoomService against a local server that speaks LiveKit's Twirp protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from aiohttp import web
from livekit.api import TokenVerifier
from livekit.protocol.models import Room
from livekit.protocol.room import CreateRoomRequest

from domain.scheduling.ports import VideoUnavailable
from infra.settings import Settings
from infra.video.livekit import (
    NOT_CONFIGURED,
    LiveKitRooms,
    UnconfiguredRooms,
    client_url,
    video_rooms,
)
from tests.conftest import free_port

KEY = "APIcaregraphtest"
SECRET = "a-secret-long-enough-for-hmac-sha256-signing-0123456789"
CREATE_ROOM = "/twirp/livekit.RoomService/CreateRoom"


@dataclass
class FakeLiveKit:
    """A LiveKit server as far as RoomService.CreateRoom goes."""

    url: str
    created: list[CreateRoomRequest] = field(default_factory=list)
    bearer_grants: list[bool] = field(default_factory=list)


@pytest.fixture
async def livekit_server() -> AsyncIterator[FakeLiveKit]:
    port = free_port()
    server = FakeLiveKit(f"http://127.0.0.1:{port}")

    async def create_room(request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        try:
            claims = TokenVerifier(KEY, SECRET).verify(token)
        except Exception:
            return web.json_response({"code": "unauthenticated", "msg": "bad token"}, status=401)
        if scheme != "Bearer" or not claims.video.room_create:
            return web.json_response({"code": "permission_denied", "msg": "no grant"}, status=403)
        server.bearer_grants.append(bool(claims.video.room_create))
        asked = CreateRoomRequest.FromString(await request.read())
        server.created.append(asked)
        room = Room(sid="RM_test", name=asked.name, empty_timeout=asked.empty_timeout,
                    max_participants=asked.max_participants)
        return web.Response(body=room.SerializeToString(), content_type="application/protobuf")

    app = web.Application()
    app.router.add_post(CREATE_ROOM, create_room)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield server
    finally:
        await runner.cleanup()


def rooms(api_url: str, *, secret: str = SECRET, public_url: str = "") -> LiveKitRooms:
    return LiveKitRooms(api_url=api_url, public_url=public_url, api_key=KEY, api_secret=secret)


async def test_a_room_is_created_through_room_service(livekit_server: FakeLiveKit) -> None:
    # when the adapter opens an appointment's room
    await rooms(livekit_server.url).open_room("appointment-42")

    # then LiveKit got one CreateRoom, signed with the key, for two people at most
    assert [(r.name, r.max_participants, r.empty_timeout) for r in livekit_server.created] == [
        ("appointment-42", 2, 300)
    ]
    assert livekit_server.bearer_grants == [True]


async def test_a_refused_room_makes_video_unavailable(livekit_server: FakeLiveKit) -> None:
    with pytest.raises(VideoUnavailable):
        await rooms(livekit_server.url, secret="not-the-secret-" * 4).open_room("appointment-1")
    assert livekit_server.created == []


async def test_a_server_that_does_not_answer_makes_video_unavailable() -> None:
    with pytest.raises(VideoUnavailable, match="not answering"):
        await rooms(f"http://127.0.0.1:{free_port()}").open_room("appointment-1")


def test_a_token_joins_one_room_as_one_person_until_the_end() -> None:
    # given an appointment ending in 40 minutes
    ends = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=40)

    # when a participant is admitted
    admitted = rooms("http://livekit.test").admit(
        room_name="appointment-7", identity="user-1", name="Pat Ient", expires_at=ends
    )

    # then the token verifies and says who, which room, and nothing more
    claims = TokenVerifier(KEY, SECRET).verify(admitted.token)
    assert (claims.identity, claims.name) == ("user-1", "Pat Ient")
    assert (claims.video.room_join, claims.video.room) == (True, "appointment-7")
    assert not claims.video.room_create and not claims.video.room_admin
    assert not claims.video.room_list
    expiry = jwt.decode(admitted.token, options={"verify_signature": False})["exp"]
    assert ends - timedelta(minutes=1) <= datetime.fromtimestamp(expiry, UTC) <= ends
    assert admitted.server_url == "ws://livekit.test"


def test_a_token_for_a_call_that_has_ended_is_refused() -> None:
    with pytest.raises(VideoUnavailable):
        rooms("http://livekit.test").admit(
            room_name="r", identity="u", name="n", expires_at=datetime.now(UTC)
        )


def test_clients_connect_over_websockets_to_the_public_url() -> None:
    assert client_url("https://lk.example.org") == "wss://lk.example.org"
    assert client_url("wss://lk.example.org") == "wss://lk.example.org"
    public = rooms("http://10.0.0.5:7880", public_url="https://video.example.org")
    admitted = public.admit(room_name="r", identity="u", name="n",
                            expires_at=datetime.now(UTC) + timedelta(minutes=5))
    assert admitted.server_url == "wss://video.example.org"


async def test_without_settings_video_is_unavailable_and_says_what_to_set() -> None:
    adapter = video_rooms(Settings())
    assert isinstance(adapter, UnconfiguredRooms)
    with pytest.raises(VideoUnavailable) as refused:
        await adapter.open_room("appointment-1")
    assert "CAREGRAPH_LIVEKIT_URL" in str(refused.value) and str(refused.value) == NOT_CONFIGURED


async def test_dev_settings_sign_tokens_without_creating_rooms() -> None:
    # given a dev server's public URL, key and secret, but no API URL
    adapter = video_rooms(Settings(livekit_public_url="ws://127.0.0.1:7880",
                                   livekit_api_key=KEY, livekit_api_secret=SECRET))

    # then opening a room asks nobody (LiveKit creates it on first join) and tokens verify
    await adapter.open_room("appointment-1")
    admitted = adapter.admit(room_name="appointment-1", identity="u", name="n",
                             expires_at=datetime.now(UTC) + timedelta(minutes=5))
    assert TokenVerifier(KEY, SECRET).verify(admitted.token).video.room == "appointment-1"
