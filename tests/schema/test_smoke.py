from __future__ import annotations

from domain.principal import Role
from tests.conftest import Api, make_person


async def test_me_and_conversation(api: Api) -> None:
    patient = await make_person(api)
    doctor = await make_person(api, Role.DOCTOR, specialty="Dermatology")
    me = await api.data("{ me { id email role } }", token=patient.token)
    assert me["me"]["id"] == patient.id
    conv = await api.data(
        "mutation($p: [ID!]!) { startConversation(participantIds: $p) { id participants { id displayName role } } }",
        {"p": [doctor.id]}, token=patient.token)
    cid = conv["startConversation"]["id"]
    sent = await api.data(
        "mutation($c: ID!) { sendMessage(conversationId: $c, body: \"hi\") { id cursor sender { displayName } } }",
        {"c": cid}, token=patient.token)
    print(sent)
    res = await api.data("{ me { id displayName conversations(first: 20) { edges { node { id unreadCount } } } } }", token=doctor.token)
    print(res)
    assert res["me"]["conversations"]["edges"][0]["node"]["unreadCount"] == 1
