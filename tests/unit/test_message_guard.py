"""The message guard in-process: every message Celery builds passes, a wrong-typed field is refused naming it."""

from __future__ import annotations

import json
import uuid
from typing import Any

from celery import Celery
from hypothesis import given, settings
from hypothesis import strategies as st

from mt5_worker.worker.message_guard import problem

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)

seconds = st.none() | st.floats(0.1, 1e6) | st.integers(1, 10**6)

calls = st.fixed_dictionaries(
    {
        "args": st.lists(json_values, max_size=4),
        "kwargs": st.dictionaries(st.text(max_size=8), json_values, max_size=4),
        "countdown": seconds,
        "expires": seconds,
        "retries": st.integers(0, 100),
        "time_limit": seconds,
        "soft_time_limit": seconds,
        "group_id": st.none() | st.uuids().map(str),
        "shadow": st.none() | st.text(min_size=1, max_size=10),
        "root_id": st.none() | st.uuids().map(str),
        "parent_id": st.none() | st.uuids().map(str),
    }
)

WRONG = st.sampled_from(
    [("id", 5), ("id", None), ("retries", "many"), ("timelimit", "forever"), ("timelimit", [1, 2, 3]),
     ("eta", "not-a-date"), ("expires", 12), ("task", ["mt5.health"]), ("shadow", [1]), ("group", {"a": 1})]
)  # fmt: skip

_builder = Celery("message-builder", set_as_current=False)


def built(protocol: int, call: dict[str, Any]) -> tuple[Any, Any]:
    """(headers, body) of the message Celery itself builds for ``call``, as the worker decodes it (JSON)."""
    call = dict(call)
    if protocol == 1:
        call.pop("shadow")  # protocol 1 has no shadow name
    build = _builder.amqp.as_task_v2 if protocol == 2 else _builder.amqp.as_task_v1
    message = build(str(uuid.uuid4()), "mt5.account_info", **call)
    return json.loads(json.dumps(message.headers)), json.loads(json.dumps(message.body))


@settings(max_examples=300, deadline=None)
@given(protocol=st.sampled_from([1, 2]), call=calls)
def test_every_message_celery_builds_passes_the_guard(protocol: int, call: dict[str, Any]) -> None:
    headers, body = built(protocol, call)
    assert problem(headers, body) is None


@settings(max_examples=300, deadline=None)
@given(protocol=st.sampled_from([1, 2]), call=calls, wrong=WRONG)
def test_a_message_with_a_wrong_typed_field_is_refused_naming_it(
    protocol: int, call: dict[str, Any], wrong: tuple[str, Any]
) -> None:
    headers, body = built(protocol, call)
    field, value = wrong
    if protocol == 2:
        headers[field] = value
    else:
        body[field] = value
    found = problem(headers, body)
    assert found is not None
    assert field in found or "task" in found, found
