"""Properties of intake, over bodies hypothesis makes up: the form decoder never fails but with a
reason and gives back the fields a form was written from (lists with indexes or PHP's `[]`), and a
body from the right account that carries a known event is always answered 200 (Kommo disables a
webhook that keeps failing, and the client messages in it would be lost)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.lambda_events import LambdaContext
from local.sam_events import EVENTS as EVENT_FILES
from local.sam_events import webhook_event
from sales_assistant.models.form import FormError, parse_nested_form
from tests.conftest import handler_of

ACCOUNT = [("account[subdomain]", "vendasdemo"), ("account[id]", "31257294")]
KNOWN_EVENTS = [
    "message[add]",
    "outgoing_message[add]",
    "add",
    "leads[add]",
    "leads[status]",
    "leads[responsible]",
    "leads[update]",
    "unsorted[add]",
    "contacts[add]",
    "talk[update]",
]
FIELDS = [
    "id",
    "chat_id",
    "contact_id",
    "text",
    "created_at",
    "entity_id",
    "entity_type",
    "element_id",
    "type",
    "author][user_id",
    "author][type",
    "author][name",
    "status_id",
    "responsible_user_id",
    "uid",
    "source",
    "custom_fields][0][id",
    "custom_fields][0][values][0",
    "custom_fields][0][values][0][value",
    "talk_id",
]
VALUES = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(10**20), max_value=10**50).map(str),
    st.sampled_from(["", "0", "incoming", "outgoing", "internal", "external", "bot", "lead", "contact", "٣٤"]),
)
ENTITY = st.dictionaries(st.sampled_from(FIELDS), VALUES, min_size=0, max_size=8)
EVENTS = st.lists(
    st.tuples(st.sampled_from(KNOWN_EVENTS), st.lists(ENTITY, min_size=1, max_size=3)), min_size=1, max_size=3
)


def form_body(events: list[tuple[str, list[dict[str, str]]]]) -> str:
    pairs = list(ACCOUNT)
    for group, entities in events:
        for index, entity in enumerate(entities):
            prefix = f"{group}[{index}]"
            pairs += [(f"{prefix}[{field}]", value) for field, value in entity.items()] or [(f"{prefix}[id]", "1")]
    return urlencode(pairs)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_the_form_decoder_never_fails_without_a_reason(body: str) -> None:
    try:
        parse_nested_form(body)
    except FormError as error:
        assert str(error)


NAME = st.from_regex(r"[a-z_]{1,8}", fullmatch=True)


def nested(depth: int) -> st.SearchStrategy[Any]:
    """A form's value: text, or a list or group of values, `depth` levels deep at most."""
    if depth == 0:
        return st.text(max_size=10)
    inner = nested(depth - 1)
    return st.one_of(
        st.text(max_size=10),
        st.lists(inner, min_size=1, max_size=3),
        st.dictionaries(NAME, inner, min_size=1, max_size=3),
    )


FORMS = st.dictionaries(NAME, nested(5), min_size=1, max_size=4)


def form_fields(node: Any, prefix: str = "", *, append: bool = False) -> list[tuple[str, str]]:
    """The fields of a form, as PHP's http_build_query writes them; with `append`, a list of plain values
    as `name[]` fields, the way PHP and JavaScript senders also write them."""
    if isinstance(node, dict):
        items = list(node.items())
    elif isinstance(node, list):
        plain = append and all(isinstance(value, str) for value in node)
        items = [("" if plain else str(index), value) for index, value in enumerate(node)]
    else:
        return [(prefix, node)]
    return [
        field
        for key, value in items
        for field in form_fields(value, f"{prefix}[{key}]" if prefix else key, append=append)
    ]


@settings(max_examples=300, deadline=None)
@given(FORMS, st.booleans())
def test_a_form_decodes_to_the_values_it_was_written_from(form: dict[str, Any], append: bool) -> None:
    assert parse_nested_form(urlencode(form_fields(form, append=append))) == form


@pytest.mark.parametrize("path", sorted((EVENT_FILES / "kommo").glob("*.form")), ids=lambda path: path.stem)
def test_every_field_of_a_kommo_body_is_decoded_under_its_own_name(path: Path) -> None:
    body = path.read_text()
    assert sorted(form_fields(parse_nested_form(body))) == sorted(parse_qsl(body, keep_blank_values=True))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(EVENTS)
def test_a_body_of_the_right_account_with_a_known_event_is_always_accepted(aws: Any, events: Any) -> None:
    handler = handler_of(aws, "WebhookIntakeFunction")
    response = handler(webhook_event(form_body(events)), LambdaContext(function_name="WebhookIntakeFunction"))
    assert response["statusCode"] == 200, json.loads(response["body"])
