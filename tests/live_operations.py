"""GraphQL documents that the tests against real servers (HTTP and WebSocket) share."""

from __future__ import annotations

# Every wait on a live server is bounded: a lost message fails the test instead of hanging it.
WAIT = 15.0

SIGN_UP = """
mutation($input: SignUpInput!) {
  signUp(input: $input) { accessToken user { id } }
}"""

SIGN_IN = """
mutation($email: String!, $password: String!) {
  signIn(email: $email, password: $password) { accessToken user { id } }
}"""

START_CONVERSATION = """
mutation($p: [ID!]!) { startConversation(participantIds: $p) { id } }"""

SEND_MESSAGE = """
mutation($c: ID!, $body: String!) {
  sendMessage(conversationId: $c, body: $body) { body cursor }
}"""

MESSAGE_ADDED = """
subscription($c: ID!, $after: String) {
  messageAdded(conversationId: $c, after: $after) { id body cursor }
}"""
