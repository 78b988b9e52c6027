"""Benchmark of the inbox query, the one every front end sends on start-up.

    { me { id displayName conversations(first: 20) { edges { node { id unreadCount } } } } }

Two modes.

Load (default) against a RUNNING server: signs up a patient through GraphQL, gets a doctor
(``--doctor-email``/``--doctor-password``, or creates one with ``caregraph users create`` in
this shell's CAREGRAPH_* environment, which must be the server's), opens N conversations
with a few messages each, then runs C concurrent clients for D seconds and prints requests/s
and latency percentiles. ``--token`` skips the set-up and measures that user's inbox.

    python bench/me_conversations.py --url http://127.0.0.1:8000 -n 50 -c 8 -d 10

SQL count (``--count-sql``), in-process, no server: builds the app from this shell's CAREGRAPH_*
settings (its database is migrated and written to), serves it through ``httpx.ASGITransport``
and counts the SQL statements one inbox query issues (SQLAlchemy ``before_cursor_execute``)
for inboxes of 1, 5, 20 and 50 conversations. A count that grows with the inbox is an N+1.

    CAREGRAPH_DATA_DIR=/tmp/cg-count python bench/me_conversations.py --count-sql
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from infra.settings import Settings

INBOX = "{ me { id displayName conversations(first: 20) { edges { node { id unreadCount } } } } }"

SIGN_UP = """
mutation($input: SignUpInput!) { signUp(input: $input) { accessToken user { id } } }"""

SIGN_IN = """
mutation($email: String!, $password: String!) {
  signIn(email: $email, password: $password) { accessToken user { id } }
}"""

START_CONVERSATION = """
mutation($doctorId: ID!, $subject: String) {
  startConversation(participantIds: [$doctorId], subject: $subject) { id }
}"""

SEND_MESSAGE = """
mutation($conversationId: ID!, $body: String!) {
  sendMessage(conversationId: $conversationId, body: $body) { id }
}"""

SIZES = (1, 5, 20, 50)
MAX_CONCURRENCY = 256
MAX_DURATION_S = 300.0
PASSWORD_BYTES = 18


class BenchError(RuntimeError):
    pass


@dataclass(frozen=True)
class Account:
    id: str
    token: str


# ---- GraphQL over any httpx client (a real server, or the app in-process)


async def graphql(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None,
                  *, token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    body: dict[str, Any] = response.json()
    if body.get("errors") or response.status_code != 200:
        raise BenchError(f"{query.split()[0:2]} failed ({response.status_code}): {body}")
    data: dict[str, Any] = body["data"]
    return data


async def sign_up_patient(client: httpx.AsyncClient) -> Account:
    suffix = uuid.uuid4().hex[:10]
    data = await graphql(client, SIGN_UP, {"input": {
        "email": f"bench-patient-{suffix}@example.org",
        "password": os.urandom(PASSWORD_BYTES).hex(),
        "displayName": f"Bench patient {suffix}",
    }})
    return Account(data["signUp"]["user"]["id"], data["signUp"]["accessToken"])


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> Account:
    data = await graphql(client, SIGN_IN, {"email": email, "password": password})
    return Account(data["signIn"]["user"]["id"], data["signIn"]["accessToken"])


async def seed_inbox(client: httpx.AsyncClient, *, patient: Account, doctor: Account,
                     conversations: int, messages: int) -> list[str]:
    """``conversations`` conversations of ``patient`` with ``doctor``; in each the doctor
    writes ``messages`` messages (unread by the patient) and the patient answers once."""
    ids = []
    for number in range(conversations):
        started = await graphql(client, START_CONVERSATION,
                                {"doctorId": doctor.id, "subject": f"bench {number}"},
                                token=patient.token)
        conversation_id = started["startConversation"]["id"]
        for line in range(messages):
            await graphql(client, SEND_MESSAGE,
                          {"conversationId": conversation_id, "body": f"doctor line {line}"},
                          token=doctor.token)
        await graphql(client, SEND_MESSAGE,
                      {"conversationId": conversation_id, "body": "patient reply"},
                      token=patient.token)
        ids.append(conversation_id)
    return ids


# ---- SQL statements per query, in-process


@contextmanager
def recording_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every SQL statement the engine sends while the block runs."""
    from sqlalchemy import event

    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def inbox_statements(client: httpx.AsyncClient, engine: AsyncEngine,
                           token: str) -> list[str]:
    """The SQL statements of one inbox query (authentication included)."""
    with recording_statements(engine) as statements:
        data = await graphql(client, INBOX, token=token)
    assert data["me"] is not None
    return statements


async def count_sql(settings: Settings, sizes: Sequence[int] = SIZES,
                    messages: int = 2) -> dict[int, list[str]]:
    """Statements of one inbox query for a fresh patient with each number of conversations."""
    from domain.principal import Role
    from infra.container import build_runtime
    from infra.db.migrate import migrate
    from infra.http.app import create_app

    runtime = build_runtime(settings)
    await migrate(runtime.engine)
    await runtime.broker.start()
    try:
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            email = f"bench-doctor-{uuid.uuid4().hex[:10]}@example.org"
            password = os.urandom(PASSWORD_BYTES).hex()
            await runtime.services.users.create_user(
                email=email, password=password, display_name="Bench doctor", role=Role.DOCTOR,
                specialty="Dermatology", request_id="bench",
            )
            doctor = await sign_in(client, email, password)
            counts = {}
            for size in sizes:
                patient = await sign_up_patient(client)
                await seed_inbox(client, patient=patient, doctor=doctor, conversations=size,
                                 messages=messages)
                await graphql(client, INBOX, token=patient.token)  # warm the document cache
                counts[size] = await inbox_statements(client, runtime.engine, patient.token)
            return counts
    finally:
        await runtime.close()


# ---- load against a running server


@dataclass
class LoadResult:
    concurrency: int
    duration_s: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    server_cpu_ms: float | None = None

    @property
    def requests_per_s(self) -> float:
        return len(self.latencies_ms) / self.duration_s if self.duration_s else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank]


async def run_load(client: httpx.AsyncClient, *, token: str, concurrency: int,
                   duration_s: float) -> LoadResult:
    """``concurrency`` clients sending the inbox query back to back for ``duration_s``."""
    payload = {"query": INBOX, "variables": {}}
    headers = {"Authorization": f"Bearer {token}"}
    result = LoadResult(concurrency, duration_s)
    deadline = time.perf_counter() + duration_s

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                response = await client.post("/graphql", json=payload, headers=headers)
                ok = response.status_code == 200 and b'"errors"' not in response.content
                detail = response.text[:300]
            except httpx.HTTPError as error:
                ok, detail = False, repr(error)
            if ok:
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
            else:
                result.errors += 1
                result.first_error = result.first_error or detail

    begun = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.duration_s = time.perf_counter() - begun
    return result


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a local process has used; 0 without a pid. Linux only.

    Server CPU time per request is steadier than requests/s on a shared machine: it does not
    count the time the server waited for a core that another process held."""
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # After the command name: state is fields[0], utime and stime are fields 11 and 12.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def create_doctor_with_cli(caregraph: str) -> tuple[str, str]:
    """A doctor made by ``caregraph users create`` with this shell's CAREGRAPH_* settings."""
    email = f"bench-doctor-{uuid.uuid4().hex[:10]}@example.org"
    password = os.urandom(PASSWORD_BYTES).hex()
    subprocess.run(
        [caregraph, "users", "create", "--email", email, "--role", "DOCTOR",
         "--display-name", "Bench doctor", "--specialty", "Dermatology"],
        input=password + "\n", text=True, check=True, capture_output=True,
    )
    return email, password


async def load(args: argparse.Namespace) -> int:
    limits = httpx.Limits(max_connections=args.concurrency,
                          max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=args.url, timeout=30, limits=limits) as client:
        token = args.token
        if not token:
            if args.doctor_email:
                email, password = args.doctor_email, args.doctor_password or ""
            else:
                email, password = create_doctor_with_cli(args.caregraph)
            doctor = await sign_in(client, email, password)
            patient = await sign_up_patient(client)
            print(f"seeding {args.conversations} conversations x {args.messages + 1} messages "
                  f"for patient {patient.id} ...", file=sys.stderr)
            await seed_inbox(client, patient=patient, doctor=doctor,
                             conversations=args.conversations, messages=args.messages)
            token = patient.token
        inbox = await graphql(client, INBOX, token=token)
        shown = len(inbox["me"]["conversations"]["edges"])
        await run_load(client, token=token, concurrency=args.concurrency,
                       duration_s=min(args.warmup, MAX_DURATION_S))
        cpu_before = process_cpu_s(args.server_pid)
        result = await run_load(client, token=token, concurrency=args.concurrency,
                                duration_s=args.duration)
        if args.server_pid and result.latencies_ms:
            used = process_cpu_s(args.server_pid) - cpu_before
            result.server_cpu_ms = used * 1000 / (len(result.latencies_ms) + result.errors)
    print_load(args.url, shown, result)
    if result.errors:
        print(f"first error: {result.first_error}", file=sys.stderr)
    return 1 if result.errors else 0


def print_load(url: str, shown: int, result: LoadResult) -> None:
    rows = [
        ("server", url),
        ("conversations in the page", str(shown)),
        ("concurrent clients", str(result.concurrency)),
        ("duration (s)", f"{result.duration_s:.1f}"),
        ("requests", str(len(result.latencies_ms))),
        ("errors", str(result.errors)),
        ("requests/s", f"{result.requests_per_s:.1f}"),
        ("latency p50 (ms)", f"{result.percentile(50):.1f}"),
        ("latency p90 (ms)", f"{result.percentile(90):.1f}"),
        ("latency p99 (ms)", f"{result.percentile(99):.1f}"),
        ("latency max (ms)",
         f"{max(result.latencies_ms):.1f}" if result.latencies_ms else "nan"),
        ("latency mean (ms)",
         f"{statistics.fmean(result.latencies_ms):.1f}" if result.latencies_ms else "nan"),
    ]
    if result.server_cpu_ms is not None:
        rows.append(("server CPU per request (ms)", f"{result.server_cpu_ms:.2f}"))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def print_counts(counts: dict[int, list[str]], *, verbose: bool) -> None:
    print(f"{'conversations':>13}  SQL statements per inbox query")
    for size, statements in counts.items():
        print(f"{size:>13}  {len(statements)}")
    if verbose:
        last = counts[max(counts)]
        for number, statement in enumerate(last, 1):
            print(f"--- {number}\n{statement.strip()}")


# ---- command line


def positive(kind: type[int] | type[float], limit: float) -> Any:
    def parse(text: str) -> int | float:
        value = kind(text)
        if not 0 < value <= limit:
            raise argparse.ArgumentTypeError(f"between 0 and {limit}")
        return value
    return parse


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    root.add_argument("--url", default="http://127.0.0.1:8000", help="the running server")
    root.add_argument("--token", default="", help="measure this user's inbox; no set-up")
    root.add_argument("--doctor-email", default="", help="an existing doctor to talk to")
    root.add_argument("--doctor-password", default=os.environ.get("BENCH_DOCTOR_PASSWORD", ""),
                      help="(or BENCH_DOCTOR_PASSWORD)")
    root.add_argument("--caregraph", default=shutil.which("caregraph")
                      or str(Path(sys.executable).parent / "caregraph"),
                      help="the CLI that creates the doctor when none is given")
    root.add_argument("-n", "--conversations", type=positive(int, 1000), default=50)
    root.add_argument("-m", "--messages", type=positive(int, 100), default=3,
                      help="doctor messages per conversation (the patient answers once)")
    root.add_argument("-c", "--concurrency", type=positive(int, MAX_CONCURRENCY), default=8)
    root.add_argument("-d", "--duration", type=positive(float, MAX_DURATION_S), default=10.0,
                      help="seconds of measurement")
    root.add_argument("--warmup", type=positive(float, MAX_DURATION_S), default=2.0,
                      help="seconds of load before measuring")
    root.add_argument("--server-pid", type=int, default=0,
                      help="a local server's pid: also report its CPU time per request")
    root.add_argument("--count-sql", action="store_true",
                      help="count SQL statements per query in-process (1, 5, 20, 50)")
    root.add_argument("--verbose", action="store_true", help="with --count-sql: print them")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.count_sql:
        from infra.settings import Settings

        counts = asyncio.run(count_sql(Settings.from_env()))
        print_counts(counts, verbose=args.verbose)
        return 0
    try:
        return asyncio.run(load(args))
    except subprocess.CalledProcessError as error:
        last = (error.stderr or "").strip().splitlines()[-1:] or ["(no output)"]
        print(f"error: `caregraph users create` failed: {last[0]}\n"
              "Run this script with the server's CAREGRAPH_* environment, or pass "
              "--doctor-email/--doctor-password or --token.", file=sys.stderr)
        return 2
    except (BenchError, httpx.HTTPError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
