"""Properties of intake, over bodies hypothesis makes up: the form decoder never fails but with a
reason, and a body from the right account that carries a known event is always answered 200 (Kommo
disables a webhook that keeps failing, and the client messages in it would be lost)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.lambda_events import LambdaContext
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


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(EVENTS)
def test_a_body_of_the_right_account_with_a_known_event_is_always_accepted(aws: Any, events: Any) -> None:
    handler = handler_of(aws, "WebhookIntakeFunction")
    response = handler(webhook_event(form_body(events)), LambdaContext(function_name="WebhookIntakeFunction"))
    assert response["statusCode"] == 200, json.loads(response["body"])
