"""The inbox query issues a fixed number of SQL statements, however full the inbox (no N+1).

The same counter as ``bench/me_conversations.py --count-sql``. The statements, in order:
the caller's account (authentication, which also primes ``me``'s loader), the page of
conversations, and one grouped unread count for the whole page.
"""

from __future__ import annotations

from bench.me_conversations import INBOX, Account, graphql, inbox_statements, seed_inbox
from domain.principal import Role
from tests.conftest import Api, make_person

STATEMENTS_PER_INBOX_QUERY = 3


async def inbox_of(api: Api, doctor: Account, conversations: int) -> Account:
    person = await make_person(api)
    patient = Account(person.id, person.token)
    await seed_inbox(api.client, patient=patient, doctor=doctor, conversations=conversations,
                     messages=2)
    return patient


async def test_the_inbox_query_costs_the_same_for_1_and_for_50_conversations(api: Api) -> None:
    # given a patient with one conversation and a patient with fifty, each with unread messages
    person = await make_person(api, Role.DOCTOR, specialty="Dermatology")
    doctor = Account(person.id, person.token)
    small = await inbox_of(api, doctor, 1)
    large = await inbox_of(api, doctor, 50)

    # when each asks for their inbox
    few = await inbox_statements(api.client, api.runtime.engine, small.token)
    many = await inbox_statements(api.client, api.runtime.engine, large.token)

    # then both cost the same, fixed number of SQL statements
    assert len(few) == len(many) == STATEMENTS_PER_INBOX_QUERY, many
    # for a full page of 20 conversations with their unread counts
    page = (await graphql(api.client, INBOX, token=large.token))["me"]["conversations"]
    assert [edge["node"]["unreadCount"] for edge in page["edges"]] == [2] * 20
