"""The users subgraph: accounts, sessions, doctor profiles, roles."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.principal import Role
from domain.users import models
from resolvers.users import mutations, queries, references
from schema.context import Info
from schema.pagination import Connection
from schema.subgraph import SubgraphSpec

strawberry.enum(Role, description="What a user may do.")


@strawberry.type
class DoctorProfile:
    specialty: str
    bio: str | None


@strawberry.federation.type(keys=["id"])
class User:
    id: strawberry.ID
    email: str
    display_name: str
    role: Role
    doctor_profile: DoctorProfile | None
    created_at: datetime

    @classmethod
    def from_domain(cls, user: models.User) -> User:
        profile = user.doctor_profile
        return cls(
            id=strawberry.ID(user.id),
            email=user.email,
            display_name=user.display_name,
            role=user.role,
            doctor_profile=DoctorProfile(specialty=profile.specialty, bio=profile.bio)
            if profile
            else None,
            created_at=user.created_at,
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> User:
        return cls.from_domain(await references.user(info.context, id))


@strawberry.type
class Session:
    access_token: str
    refresh_token: str
    expires_at: datetime
    user: User

    @classmethod
    def from_domain(cls, session: models.Session) -> Session:
        return cls(
            access_token=session.access_token,
            refresh_token=session.refresh_token,
            expires_at=session.expires_at,
            user=User.from_domain(session.user),
        )


@strawberry.input
class SignUpInput:
    email: str
    password: str
    display_name: str


@strawberry.input
class UpdateProfileInput:
    display_name: str | None = None
    specialty: str | None = None
    bio: str | None = None


@strawberry.type(name="Query")
class UsersQuery:
    @strawberry.field(description="The signed-in user; null without a valid token.")
    async def me(self, info: Info) -> User | None:
        found = await queries.me(info.context)
        return User.from_domain(found) if found else None

    @strawberry.field
    async def user(self, info: Info, id: strawberry.ID) -> User | None:
        return User.from_domain(await queries.user(info.context, id))

    @strawberry.field(description="The doctor directory, by display name.")
    async def doctors(
        self,
        info: Info,
        specialty: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[User]:
        page, cursors = await queries.doctors(
            info.context, specialty=specialty, first=first, after=after
        )
        return Connection.of(
            [User.from_domain(u) for u in page.users],
            cursors,
            has_next_page=page.has_next_page,
            has_previous_page=after is not None,
        )


@strawberry.type(name="Mutation")
class UsersMutation:
    @strawberry.mutation(description="Create a patient account and start a session.")
    async def sign_up(self, info: Info, input: SignUpInput) -> Session:
        session = await mutations.sign_up(
            info.context,
            email=input.email,
            password=input.password,
            display_name=input.display_name,
        )
        return Session.from_domain(session)

    @strawberry.mutation
    async def sign_in(self, info: Info, email: str, password: str) -> Session:
        return Session.from_domain(
            await mutations.sign_in(info.context, email=email, password=password)
        )

    @strawberry.mutation(
        description="Rotate a refresh token. Reusing an old one ends every session of its family."
    )
    async def refresh_session(self, info: Info, refresh_token: str) -> Session:
        return Session.from_domain(
            await mutations.refresh_session(info.context, refresh_token=refresh_token)
        )

    @strawberry.mutation
    async def sign_out(self, info: Info, refresh_token: str) -> bool:
        return await mutations.sign_out(info.context, refresh_token=refresh_token)

    @strawberry.mutation
    async def update_profile(self, info: Info, input: UpdateProfileInput) -> User:
        return User.from_domain(
            await mutations.update_profile(
                info.context,
                display_name=input.display_name,
                specialty=input.specialty,
                bio=input.bio,
            )
        )

    @strawberry.mutation(description="ADMIN only.")
    async def set_user_role(self, info: Info, user_id: strawberry.ID, role: Role) -> User:
        return User.from_domain(
            await mutations.set_user_role(info.context, user_id=user_id, role=role)
        )

    @strawberry.mutation(description="ADMIN only. The user's tokens stop working at once.")
    async def disable_user(self, info: Info, user_id: strawberry.ID) -> User:
        return User.from_domain(await mutations.disable_user(info.context, user_id=user_id))


SUBGRAPH = SubgraphSpec(name="users", query=UsersQuery, mutation=UsersMutation, types=(User,))
