"""Whatever comes in on the doors that are not in the OpenAPI document, the answer is defined:
a parsed request or the door's own refusal, never an exception nobody meant (issue 20).

Hypothesis writes the inputs: Butler /v4 start and key-value bodies, the QRS filter and
orderby language, MQTT start payloads. tests/integration/test_fuzz_doors.py sends such inputs
to a live server as well.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskgate.domain.errors import InvalidInput
from taskgate.domain.qrsfilter import parse_filter
from taskgate.domain.qrsorderby import parse_orderby
from taskgate.doors.butler.start import parse_items
from taskgate.doors.butler.wire import ButlerError
from taskgate.doors.mqtt.payloads import parse_start

# Any JSON value, keys and strings from all of Unicode (lone surrogates included).
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children),
    max_leaves=25,
)
BUTLER_TYPES = ["starttaskid", "starttasktag", "starttaskcustomproperty", "keyvaluestore"]
butler_items = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(BUTLER_TYPES) | json_values,
        "payload": st.dictionaries(
            st.sampled_from(
                [
                    "taskId",
                    "tag",
                    "customPropertyName",
                    "customPropertyValue",
                    "namespace",
                    "key",
                    "value",
                    "ttl",
                ]
            )
            | st.text(),
            json_values,
        )
        | json_values,
    },
)
butler_bodies = st.lists(butler_items | json_values, max_size=6) | json_values
FAST = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


@FAST
@given(st.text(), butler_bodies)
def test_a_butler_start_body_is_parsed_or_refused(path_id: str, body: Any) -> None:
    try:
        parse_items(path_id, body)
    except ButlerError as exc:
        assert 400 <= exc.status < 500


qrs_words = st.sampled_from(
    [
        "name",
        "id",
        "tags.name",
        "customProperties.value",
        "enabled",
        "eq",
        "ne",
        "sw",
        "ew",
        "so",
        "lt",
        "gt",
        "and",
        "or",
        "not",
        "(",
        ")",
        "'x'",
        "'",
        "true",
        "null",
        "3",
        "-1e999",
        "2024-01-01T00:00:00Z",
        "0b7b1c50-6a47-4d63-9a55-6f0b6c1a0001",
        " ",
        ",",
        "asc",
        "desc",
    ]
)
qrs_texts = st.text() | st.lists(qrs_words | st.text(max_size=3), max_size=30).map(" ".join)


@FAST
@given(qrs_texts)
def test_a_qrs_filter_is_parsed_or_refused(text: str) -> None:
    try:
        parsed = parse_filter(text)
    except InvalidInput:
        return
    entity = {"name": "x", "id": "0b7b1c50-6a47-4d63-9a55-6f0b6c1a0001", "tags": [{"name": "t"}]}
    parsed.matches(entity)
    parsed.pinned("id")


@FAST
@given(qrs_texts)
def test_a_qrs_orderby_is_parsed_or_refused(text: str) -> None:
    try:
        parse_orderby(text)
    except InvalidInput:
        return


mqtt_payloads = (
    st.binary(max_size=300)
    | st.text().map(lambda s: s.encode("utf-8", "surrogatepass"))
    | st.fixed_dictionaries(
        {},
        optional={
            "tasks": st.lists(st.text(), max_size=3) | json_values,
            "params": json_values,
            "idempotency_key": json_values,
            "all_must_exist": json_values,
            "correlation_id": json_values,
        },
    ).map(lambda body: json.dumps(body).encode())
)


@FAST
@given(mqtt_payloads)
def test_an_mqtt_payload_is_parsed_or_refused(payload: bytes) -> None:
    try:
        parse_start(payload)
    except InvalidInput:
        return
