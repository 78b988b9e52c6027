"""The distributed deployment answers like the one-process graph.

The five subgraphs each run as their own ``caregraph serve --subgraph NAME`` on one PostgreSQL
and one Redis, behind Hive Gateway (``infra/deploy/gateway.mjs`` on the committed
``schema/supergraph.graphql``, subgraph subscriptions over WebSocket). One scripted scenario
(``tests/federation/scenario.py``) runs through the gateway and against one ``caregraph
serve``, each on a fresh database of the same kind; the transcripts, errors included, are the
same once generated ids, tokens and times are set aside.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.federation import scenario
from tests.federation.cluster import behind_gateway, environment_ready, one_process, storage

pytestmark = pytest.mark.skipif(bool(environment_ready()), reason=environment_ready())

Transcript = list[tuple[str, Any]]


@pytest.fixture(scope="module")
async def through_the_gateway(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Transcript]:
    data_dir = tmp_path_factory.mktemp("distributed")
    async with storage(data_dir) as env:
        with ExitStack() as stack:
            deployment = behind_gateway(stack, env, data_dir)
            yield await scenario.run(deployment)


@pytest.fixture(scope="module")
async def in_one_process(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Transcript]:
    data_dir = tmp_path_factory.mktemp("one-process")
    async with storage(data_dir) as env:
        with ExitStack() as stack:
            deployment = one_process(stack, env, data_dir)
            yield await scenario.run(deployment)


def answer(transcript: Transcript, step: str) -> Any:
    [found] = [body for name, body in transcript if name == step]
    return found


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


async def test_the_gateway_answers_the_scenario_as_one_process_does(
    through_the_gateway: Transcript, in_one_process: Transcript
) -> None:
    # given the scenario run through Hive Gateway in front of five subgraph processes,
    # and against one process holding the whole graph
    # when their transcripts are compared, then every step got the same answer
    assert [step for step, _ in through_the_gateway] == [step for step, _ in in_one_process]
    differing = [
        (step, distributed, single)
        for (step, distributed), (_, single) in zip(
            through_the_gateway, in_one_process, strict=True
        )
        if distributed != single
    ]
    assert differing == []


async def test_the_scenario_reached_every_subgraph(through_the_gateway: Transcript) -> None:
    # given the scenario run through the gateway
    transcript = through_the_gateway

    # then the diagnosis event carries fields of users and registry
    event = answer(transcript, "diagnosisUpdated, final event")["data"]["diagnosisUpdated"]
    assert event["status"] == "COMPLETED"
    assert event["study"]["patient"]["displayName"] == "Pat Patient"
    assert event["modelVersion"]["version"] == "1.0.0"
    # the doctor heard the message that shared the study
    message = answer(transcript, "messageAdded, to the doctor")["data"]["messageAdded"]
    assert message["body"] == "Here is the photo"
    assert message["sender"]["displayName"] == "Pat Patient"
    # both joined the call with tickets for the same room
    patient = answer(transcript, "the patient joins the call")["data"]["joinVideoCall"]
    doctor = answer(transcript, "the doctor joins the call")["data"]["joinVideoCall"]
    assert patient["roomName"] == doctor["roomName"]
    assert patient["serverUrl"] == "wss://livekit.caregraph.invalid"
    # the analyst read one request on the skin model today
    models = answer(transcript, "model metrics, as an analyst")["data"]["models"]
    [skin] = [model for model in models if model["modality"] == "SKIN"]
    assert [m["requests"] for v in skin["versions"] for m in v["metrics"]] == [1]
    # and the refusals read the same as in one process
    assert codes(answer(transcript, "a study without a token")) == ["UNAUTHENTICATED"]
    assert codes(answer(transcript, "a study that does not exist")) == ["NOT_FOUND"]
    assert codes(answer(transcript, "join a call that does not exist")) == ["NOT_FOUND"]
    assert codes(answer(transcript, "model metrics, as the patient")) == ["FORBIDDEN"]
