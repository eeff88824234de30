"""Kommo's form-urlencoded webhooks parsed into typed events, and hostile bodies refused with a reason."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from local.sam_events import kommo_body
from sales_assistant.models.form import FormError, parse_nested_form
from sales_assistant.models.kommo_webhook import WebhookError, parse_kommo_webhook

ACCOUNT = [("account[subdomain]", "vendasdemo"), ("account[id]", "31257294")]


def test_nested_keys_become_dicts_and_lists() -> None:
    form = parse_nested_form("a[b][0][c]=1&a[b][1][c]=2&a[d]=x")
    assert form == {"a": {"b": [{"c": "1"}, {"c": "2"}], "d": "x"}}


@pytest.mark.parametrize(
    "body, reason",
    [
        ("", "malformed"),
        ("just garbage without equals", "malformed"),
        ("a[b=1", "malformed field name"),
        ("a=1&a[b]=2", "both a value and a group"),
        ("a[b]=2&a=1", "both a value and a group"),
        ("a[1000][b]=1", "list index"),
        ("a" + "[x]" * 10 + "=1", "nested too deep"),
    ],
)
def test_malformed_forms_are_refused_with_a_reason(body: str, reason: str) -> None:
    with pytest.raises(FormError, match=reason):
        parse_nested_form(body)


def test_a_client_text_message_is_a_client_message() -> None:
    webhook = parse_kommo_webhook(kommo_body("client-message"))
    assert webhook.account.id == 31257294
    [message] = webhook.client_messages
    assert message.type == "incoming" and message.author.type == "external"
    assert message.text.startswith("Oi! Vi o anúncio") and message.text.endswith("😊")
    assert message.conversation_id == "lead:27754599"
    assert message.contact_id == 93589657
    assert webhook.salesperson_messages == []


def test_two_messages_in_one_body_keep_their_order() -> None:
    webhook = parse_kommo_webhook(kommo_body("client-two-messages"))
    assert [message.text for message in webhook.client_messages] == ["oi", "tudo bem? quero saber do benefício"]


def test_a_picture_without_text_keeps_its_attachment() -> None:
    [message] = parse_kommo_webhook(kommo_body("client-picture")).client_messages
    assert message.text == ""
    assert message.message_type == "picture"
    assert message.attachment is not None and message.attachment.link.endswith("comprovante.jpg")
    assert message.has_content


def test_a_salesperson_message_reported_under_both_groups_counts_once() -> None:
    webhook = parse_kommo_webhook(kommo_body("salesperson-assumir"))
    assert webhook.client_messages == []
    [message] = webhook.salesperson_messages
    assert message.text == "/assumir 27754599"
    assert message.author.type == "internal" and message.author.user_id == 8401234


@pytest.mark.parametrize(
    "name, kind",
    [("lead-added", "add"), ("lead-status-changed", "status"), ("lead-responsible-changed", "responsible")],
)
def test_lead_events_are_typed_by_kind(name: str, kind: str) -> None:
    [change] = parse_kommo_webhook(kommo_body(name)).lead_changes
    assert change.kind == kind


def test_lead_custom_fields_and_status_history_are_read() -> None:
    [added] = parse_kommo_webhook(kommo_body("lead-added")).lead_changes
    assert added.custom_fields[0].name == "Área" and added.custom_fields[0].values[0].value == "Imóveis"
    [moved] = parse_kommo_webhook(kommo_body("lead-status-changed")).lead_changes
    assert (moved.old_status_id, moved.status_id) == (61234567, 61234568)
    [reassigned] = parse_kommo_webhook(kommo_body("lead-responsible-changed")).lead_changes
    assert (reassigned.old_responsible_user_id, reassigned.responsible_user_id) == (8401234, 8401240)


def test_an_unsorted_lead_is_read() -> None:
    [unsorted] = parse_kommo_webhook(kommo_body("unsorted-added")).unsorted_leads
    assert unsorted.uid.startswith("f5b368bc") and unsorted.lead_id == 27754610


def test_events_the_service_does_not_act_on_are_accepted_and_listed() -> None:
    body = urlencode([*ACCOUNT, ("leads[update][0][id]", "1"), ("contacts[add][0][id]", "2")])
    webhook = parse_kommo_webhook(body)
    assert webhook.event_count == 0
    assert sorted(webhook.ignored_events) == ["contacts", "leads.update"]


@pytest.mark.parametrize(
    "rows, code",
    [
        ([*ACCOUNT, ("bitcoin[add][0][id]", "1")], "unknown_event"),
        ([*ACCOUNT, ("leads[explode][0][id]", "1")], "unknown_event"),
        ([("message[add][0][id]", "x")], "missing_field"),
        ([*ACCOUNT, ("message[add][0][id]", "x"), ("message[add][0][type]", "incoming")], "invalid_event"),
        ([*ACCOUNT, ("message[add]", "flat")], "invalid_event"),
        (ACCOUNT, "no_event"),
    ],
)
def test_unusable_webhooks_name_their_reason(rows: list[tuple[str, str]], code: str) -> None:
    with pytest.raises(WebhookError) as raised:
        parse_kommo_webhook(urlencode(rows))
    assert raised.value.code == code
    assert raised.value.message


def test_a_body_truncated_inside_the_second_message_is_refused_whole() -> None:
    body = kommo_body("client-two-messages")
    truncated = body[: body.index("message%5Badd%5D%5B1%5D%5Bcreated_at")].rstrip("&")
    with pytest.raises(WebhookError) as raised:
        parse_kommo_webhook(truncated)
    assert raised.value.code == "invalid_event"
    assert raised.value.message.startswith("message[add][1]")
