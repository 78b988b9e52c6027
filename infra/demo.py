"""Demo data for ``make run``: an admin, two doctors, two patients, one conversation."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from domain.errors import DomainError, ErrorCode
from domain.principal import Principal, Role
from infra.container import Runtime


@dataclass(frozen=True)
class DemoUser:
    email: str
    display_name: str
    role: Role
    specialty: str | None = None


DEMO_USERS = (
    DemoUser("admin@caregraph.test", "Ada Admin", Role.ADMIN),
    DemoUser("grace.derm@caregraph.test", "Dr. Grace Hopper", Role.DOCTOR, "Dermatology"),
    DemoUser("alan.radio@caregraph.test", "Dr. Alan Turing", Role.DOCTOR, "Radiology"),
    DemoUser("pat@caregraph.test", "Pat Patient", Role.PATIENT),
    DemoUser("sam@caregraph.test", "Sam Sick", Role.PATIENT),
)


async def load_demo(runtime: Runtime) -> list[tuple[DemoUser, str]]:
    """Create the demo accounts that do not exist yet; return those created with passwords.

    Passwords are random and shown once: a demo database on a shared machine must not come
    with a password anyone can read in the repository.
    """
    users = runtime.services.users
    created: list[tuple[DemoUser, str]] = []
    ids: dict[str, str] = {}
    for demo in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        try:
            user = await users.create_user(
                email=demo.email,
                password=password,
                display_name=demo.display_name,
                role=demo.role,
                specialty=demo.specialty,
                request_id="demo",
            )
        except DomainError as error:
            if error.code is not ErrorCode.CONFLICT:
                raise
            continue
        ids[demo.email] = user.id
        created.append((demo, password))
    patient, doctor = ids.get("pat@caregraph.test"), ids.get("grace.derm@caregraph.test")
    if patient and doctor:
        who = Principal(user_id=patient, role=Role.PATIENT, request_id="demo")
        conversation = await runtime.services.messaging.start_conversation(
            who, participant_ids=[doctor], subject="A mole on my arm"
        )
        await runtime.services.messaging.send_message(
            who,
            conversation_id=conversation.id,
            body="Hello doctor, the mole on my left arm has grown since spring.",
        )
    return created
