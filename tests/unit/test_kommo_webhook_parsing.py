"""Kommo's form-urlencoded webhooks parsed into typed events, and hostile bodies refused with a reason."""

from __future__ import annotations

import re
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
        ("a" + "[x]" * 10 + "=1", "nested too deep"),
        ("a" + "[]" * 10 + "=1", "nested too deep"),
        ("&".join(["tags[]=vip"] * 5001), "Max number of fields exceeded"),
    ],
)
def test_malformed_forms_are_refused_with_a_reason(body: str, reason: str) -> None:
    with pytest.raises(FormError, match=reason):
        parse_nested_form(body)


def test_a_key_given_twice_keeps_its_last_value_as_php_does() -> None:
    assert parse_nested_form("a=1&a[b]=2") == {"a": {"b": "2"}}
    assert parse_nested_form("a[b]=2&a=1") == {"a": "1"}


def test_only_ascii_digits_make_list_indexes() -> None:
    assert parse_nested_form("a[0]=x&a[1]=y") == {"a": ["x", "y"]}
    assert parse_nested_form("a[\u0661]=x") == {"a": {"\u0661": "x"}}  # an Arabic-Indic one: a plain key
    assert parse_nested_form("a[7][b]=1&a[1200][b]=2") == {"a": [{"b": "1"}, {"b": "2"}]}


def test_empty_brackets_append_to_a_list_as_php_does() -> None:
    assert parse_nested_form("tags[]=vip&tags[]=novo") == {"tags": ["vip", "novo"]}
    assert parse_nested_form("leads[0][id]=1&leads[1][id]=2") == {"leads": [{"id": "1"}, {"id": "2"}]}
    assert parse_nested_form("leads[][id]=1&leads[][id]=2") == {"leads": [{"id": "1"}, {"id": "2"}]}
    assert parse_nested_form("lead[tags][]=vip&lead[id]=7&lead[tags][]=novo") == {
        "lead": {"tags": ["vip", "novo"], "id": "7"}
    }
    assert parse_nested_form("tags[3]=b&tags[]=c&tags[0]=a") == {"tags": ["a", "b", "c"]}  # [] after the largest
    assert parse_nested_form("tags[]=vip&tags[name]=x") == {"tags": {"0": "vip", "name": "x"}}


def test_a_client_text_message_is_a_client_message() -> None:
    webhook = parse_kommo_webhook(kommo_body("client-message"))
    assert webhook.account.id == 31257294
    [message] = webhook.client_messages
    assert message.type == "incoming" and message.author.type == "external"
    assert message.text.startswith("Oi! Vi o anúncio") and message.text.endswith("😊")
    assert message.conversation_id == "lead:27754599"
    assert message.contact_id == 93589657
    assert webhook.outgoing_messages == []


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
    [message] = webhook.outgoing_messages
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
    body = urlencode(
        [*ACCOUNT, ("leads[update][0][id]", "1"), ("contacts[add][0][id]", "2"), ("leads[explode][0][id]", "3")]
    )
    webhook = parse_kommo_webhook(body)
    assert webhook.client_messages == webhook.outgoing_messages == webhook.lead_changes == []
    assert sorted(webhook.ignored_events) == ["contacts", "leads.explode", "leads.update"]


def test_an_unknown_group_beside_a_known_event_is_ignored_not_refused() -> None:
    webhook = parse_kommo_webhook(urlencode([*ACCOUNT, ("bitcoin[add][0][id]", "1"), ("leads[add][0][id]", "5")]))
    assert [change.id for change in webhook.lead_changes] == [5]
    assert webhook.ignored_events == ["bitcoin"]


@pytest.mark.parametrize(
    "rows, code",
    [
        ([*ACCOUNT, ("bitcoin[add][0][id]", "1")], "unknown_event"),
        ([("message[add][0][id]", "x")], "missing_field"),
        ([("account[id]", "abc"), ("leads[add][0][id]", "5")], "invalid_account"),
        (ACCOUNT, "no_event"),
    ],
)
def test_unusable_webhooks_name_their_reason(rows: list[tuple[str, str]], code: str) -> None:
    with pytest.raises(WebhookError) as raised:
        parse_kommo_webhook(urlencode(rows))
    assert raised.value.code == code
    assert raised.value.message


@pytest.mark.parametrize(
    "rows, where",
    [
        ([("message[add][0][id]", "x"), ("message[add][0][type]", "incoming")], "message[add][0]"),
        ([("message[add]", "flat")], "message[add]"),
        ([("leads[status][0][id]", "9" * 45)], "leads[status][0]"),
    ],
    ids=["message-without-its-fields", "flat-action", "45-digit-lead-id"],
)
def test_an_entity_that_does_not_validate_is_parked_with_a_reason_and_no_value(
    rows: list[tuple[str, str]], where: str
) -> None:
    webhook = parse_kommo_webhook(urlencode([*ACCOUNT, *rows, ("leads[add][0][id]", "5")]))
    [parked] = webhook.parked
    assert parked.where == where and parked.reason.startswith(where)
    assert "99999" not in parked.reason  # the reason never repeats the value (it may be a phone, a text)
    assert [change.id for change in webhook.lead_changes] == [5]  # the rest of the body is used


def test_a_body_truncated_inside_the_second_message_keeps_the_first_and_parks_the_second() -> None:
    body = kommo_body("client-two-messages")
    truncated = body[: body.index("message%5Badd%5D%5B1%5D%5Bcreated_at")].rstrip("&")
    webhook = parse_kommo_webhook(truncated)
    assert [message.text for message in webhook.client_messages] == ["oi"]
    assert [entity.where for entity in webhook.parked] == ["message[add][1]"]


# ---------------------------------------------------------------- shapes seen in real traffic


def test_a_custom_field_value_that_arrives_plain_is_read() -> None:
    body = (
        kommo_body("lead-status-changed")
        + "&"
        + urlencode(
            [
                ("leads[status][0][custom_fields][2][id]", "512345"),
                ("leads[status][0][custom_fields][2][values][0]", "1542067200"),
            ]
        )
    )
    [change] = parse_kommo_webhook(body).lead_changes
    assert change.custom_fields[-1].values[0].value == "1542067200"
    assert parse_kommo_webhook(body).parked == []


def test_an_outgoing_message_without_a_lead_belongs_to_the_contacts_conversation() -> None:
    body = kommo_body("salesperson-assumir")
    for key in ("element_id", "entity_id", "element_type", "entity_type"):
        body = re.sub(rf"&message%5Badd%5D%5B0%5D%5B{key}%5D=[^&]*", "", body)
    [message] = parse_kommo_webhook(body).outgoing_messages
    assert message.lead_id is None and message.conversation_id == f"contact:{message.contact_id}"


def test_an_add_outgoing_message_body_without_type_is_an_outgoing_message() -> None:
    body = kommo_body("salesperson-assumir").replace("message%5Badd%5D", "outgoing_message%5Badd%5D")
    body = re.sub(r"&outgoing_message%5Badd%5D%5B0%5D%5Btype%5D=[^&]*", "", body)
    webhook = parse_kommo_webhook(body)
    assert [message.text for message in webhook.outgoing_messages] == ["/assumir 27754599"]
    assert webhook.client_messages == []


def test_a_chat_message_without_the_message_wrapper_is_read() -> None:
    body = kommo_body("client-message").replace("message%5Badd%5D%5B0%5D", "add%5B0%5D")
    [message] = parse_kommo_webhook(body).client_messages
    assert message.lead_id == 27754599


def test_author_user_id_zero_is_no_user_before_and_after_the_queue() -> None:
    from sales_assistant.models.queue import SalespersonMessageReceived, parse_queue_item

    body = kommo_body("salesperson-assumir").replace("author%5D%5Buser_id%5D=8401234", "author%5D%5Buser_id%5D=0")
    [message] = parse_kommo_webhook(body).outgoing_messages
    assert message.author.user_id is None
    item = parse_queue_item(SalespersonMessageReceived(message=message).model_dump_json())
    assert isinstance(item, SalespersonMessageReceived) and item.message.author.user_id is None
