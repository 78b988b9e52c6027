"""The messaging subgraph's rules: who may talk to whom, who may read, and gap-free streams."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from datetime import datetime

from domain.audit import AuditLog, audit_events
from domain.clock import Clock, utc_now
from domain.errors import DomainError, ErrorCode, bad_input, forbidden, not_found
from domain.messaging import events
from domain.messaging.models import Conversation, ConversationPage, Message, MessagePage
from domain.messaging.ports import ConversationRepository, EventBus, StudyDirectory, UserDirectory
from domain.principal import Principal, Role, require, require_role

log = logging.getLogger(__name__)

MAX_BODY = 10_000
MAX_SUBJECT = 200
MAX_PARTICIPANTS = 10
REPLAY_PAGE = 200


class MessagingService:
    """Conversations and messages. A record the viewer may not read is reported NOT_FOUND."""

    def __init__(
        self,
        *,
        conversations: ConversationRepository,
        directory: UserDirectory,
        bus: EventBus,
        audit: AuditLog,
        studies: StudyDirectory | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._studies = studies
        self._repo = conversations
        self._directory = directory
        self._bus = bus
        self._audit = audit
        self._clock = clock

    # ---- writing

    async def start_conversation(
        self, viewer: Principal | None, *, participant_ids: Sequence[str], subject: str | None
    ) -> Conversation:
        who = require_role(viewer, Role.PATIENT, Role.DOCTOR)
        members = list(dict.fromkeys([who.user_id, *participant_ids]))
        if not 2 <= len(members) <= MAX_PARTICIPANTS:
            raise bad_input(
                f"A conversation has 2 to {MAX_PARTICIPANTS} participants, you included",
                field="participantIds",
            )
        roles = await self._directory.active_roles(members)
        missing = [uid for uid in members if uid not in roles]
        if missing:
            raise not_found(f"User {missing[0]}")
        others = [roles[uid] for uid in members if uid != who.user_id]
        if any(role not in (Role.PATIENT, Role.DOCTOR) for role in others):
            raise forbidden("Conversations are between patients and doctors")
        if who.role is Role.PATIENT and any(role is not Role.DOCTOR for role in others):
            raise forbidden("A patient can start a conversation with doctors only")
        if subject is not None:
            subject = subject.strip() or None
            if subject and len(subject) > MAX_SUBJECT:
                raise bad_input(f"subject has at most {MAX_SUBJECT} characters", field="subject")
        now = self._clock()
        conversation = Conversation(
            id=str(uuid.uuid4()), subject=subject, created_at=now, last_activity_at=now
        )
        await self._repo.create(conversation, members)
        await self._log(who, "conversation.start", conversation.id)
        return conversation

    async def send_message(
        self,
        viewer: Principal | None,
        *,
        conversation_id: str,
        body: str,
        study_id: str | None = None,
    ) -> Message:
        """``study_id`` attaches a study the sender may see, of a patient in the conversation."""
        who = await self._participant(viewer, conversation_id)
        body = body.strip()
        if not body or len(body) > MAX_BODY:
            raise bad_input(f"A message has 1 to {MAX_BODY} characters", field="body")
        if study_id is not None:
            await self._require_shareable_study(who, conversation_id, study_id)
        message = await self._repo.append(
            Message(
                id=str(uuid.uuid4()),
                conversation_id=conversation_id,
                seq=0,
                sender_id=who.user_id,
                body=body,
                sent_at=self._clock(),
                study_id=study_id,
            )
        )
        await self._log(who, "message.send", message.id, record_type="Message")
        try:
            await self._bus.publish(events.topic(conversation_id), events.encode(message))
        except Exception:
            # The message is committed; subscribers catch up from storage on their next event
            # or reconnect. Losing the notification must not turn a stored message into an error.
            log.exception("could not publish message %s", message.id)
        return message

    async def mark_read(self, viewer: Principal | None, *, conversation_id: str) -> Conversation:
        who = await self._participant(viewer, conversation_id)
        await self._repo.mark_read(conversation_id, who.user_id)
        return await self._conversation(conversation_id)

    # ---- reading

    async def get_conversations(
        self, viewer: Principal | None, conversation_ids: Sequence[str]
    ) -> list[Conversation | None]:
        """Conversations in the order asked; None where absent or the viewer takes no part."""
        members = await self.participant_ids(viewer, conversation_ids)
        found = {c.id: c for c in await self._repo.get_many([i for i in members])}
        return [found.get(cid) for cid in conversation_ids]

    async def get_message(self, viewer: Principal | None, message_id: str) -> Message:
        who = require(viewer)
        message = await self._repo.message(message_id)
        members = await self._repo.participant_ids([message.conversation_id] if message else [])
        if message is None or who.user_id not in members.get(message.conversation_id, []):
            raise not_found("Message")
        return message

    async def conversations(
        self,
        viewer: Principal | None,
        *,
        user_id: str,
        first: int,
        after: tuple[datetime, str] | None,
    ) -> ConversationPage:
        who = require(viewer)
        if who.user_id != user_id:
            # Another person's inbox is not a thing anyone reads, admins included.
            return ConversationPage(conversations=[], has_next_page=False)
        rows = await self._repo.for_user(user_id, after=after, limit=first + 1)
        return ConversationPage(conversations=rows[:first], has_next_page=len(rows) > first)

    async def participant_ids(
        self, viewer: Principal | None, conversation_ids: Sequence[str]
    ) -> dict[str, list[str]]:
        """Participants per conversation, for the conversations the viewer takes part in."""
        who = require(viewer)
        found = await self._repo.participant_ids(conversation_ids)
        return {cid: ids for cid, ids in found.items() if who.user_id in ids}

    async def unread_counts(
        self, viewer: Principal | None, conversation_ids: Sequence[str]
    ) -> dict[str, int]:
        who = require(viewer)
        return await self._repo.unread_counts(who.user_id, conversation_ids)

    async def messages(
        self,
        viewer: Principal | None,
        *,
        conversation_id: str,
        first: int | None = None,
        after: int | None = None,
        last: int | None = None,
        before: int | None = None,
    ) -> MessagePage:
        """A page of messages, oldest first; ``last``/``before`` page backwards from the end."""
        who = await self._participant(viewer, conversation_id)
        if last is not None:
            rows = await self._repo.messages(
                conversation_id,
                after_seq=after,
                before_seq=before,
                limit=last + 1,
                newest_first=True,
            )
            page = list(reversed(rows[:last]))
            result = MessagePage(
                page, has_next_page=before is not None, has_previous_page=len(rows) > last
            )
        else:
            size = first if first is not None else 50
            rows = await self._repo.messages(
                conversation_id, after_seq=after, before_seq=before, limit=size + 1
            )
            result = MessagePage(
                rows[:size], has_next_page=len(rows) > size, has_previous_page=after is not None
            )
        await self._log(who, "message.read", conversation_id, record_type="Conversation")
        return result

    async def stream(
        self, viewer: Principal | None, *, conversation_id: str, after: int | None
    ) -> AsyncGenerator[Message, None]:
        """Messages after ``after`` (or from now on), then live ones: in order, each once.

        The live feed is opened before storage is read, so a message committed during the
        replay is either in the replay or in the feed; ``seq`` drops the one seen twice and
        a jump in ``seq`` (a lost or reordered event) is filled from storage.
        """
        who = await self._participant(viewer, conversation_id)
        await self._log(who, "message.subscribe", conversation_id, record_type="Conversation")
        async with self._bus.subscribe(events.topic(conversation_id)) as feed:
            if after is None:
                after = (await self._conversation(conversation_id)).last_seq
            last = after
            async for message in self._catch_up(conversation_id, last):
                last = message.seq
                yield message
            async for payload in feed:
                incoming = events.decode(payload) if payload is not None else None
                if incoming is not None and incoming.seq == last + 1:
                    last = incoming.seq
                    yield incoming
                elif incoming is None or incoming.seq > last:
                    async for message in self._catch_up(conversation_id, last):
                        last = message.seq
                        yield message

    async def _catch_up(self, conversation_id: str, after: int) -> AsyncIterator[Message]:
        while True:
            page = await self._repo.messages(conversation_id, after_seq=after, limit=REPLAY_PAGE)
            for message in page:
                yield message
            if len(page) < REPLAY_PAGE:
                return
            after = page[-1].seq

    async def contacts_among(self, user_id: str, other_ids: Sequence[str]) -> set[str]:
        """Care relation through a shared conversation (the users subgraph asks this)."""
        return await self._repo.contacts_among(user_id, other_ids)

    # ---- rules

    async def _participant(self, viewer: Principal | None, conversation_id: str) -> Principal:
        who = require(viewer)
        members = await self._repo.participant_ids([conversation_id])
        if who.user_id not in members.get(conversation_id, []):
            raise not_found("Conversation")
        return who

    async def _require_shareable_study(
        self, who: Principal, conversation_id: str, study_id: str
    ) -> None:
        # Sharing must not widen access: the sender sees the study, and its patient is in the
        # conversation, whose doctors are then in care with that patient anyway.
        patient = (
            await self._studies.patient_of_visible_study(who, study_id) if self._studies else None
        )
        members = await self._repo.participant_ids([conversation_id])
        if patient is None or patient not in members.get(conversation_id, []):
            raise DomainError(ErrorCode.NOT_FOUND, "Study not found", field="studyId")

    async def _conversation(self, conversation_id: str) -> Conversation:
        found = await self._repo.get_many([conversation_id])
        if not found:
            raise not_found("Conversation")
        return found[0]

    async def _log(
        self, who: Principal, action: str, record_id: str, *, record_type: str = "Conversation"
    ) -> None:
        events = audit_events(who, action, record_type, [record_id], at=self._clock())
        await self._audit.record(*events)
