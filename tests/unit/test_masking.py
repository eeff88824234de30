"""Personal data never reaches the logs as it is."""

from __future__ import annotations

from sales_assistant.observability import fingerprint, mask_email, mask_phone, mask_text


def test_a_phone_keeps_only_its_last_four_digits() -> None:
    assert mask_phone("+55 11 98765-4321") == "*********4321"
    assert mask_phone("") == ""


def test_an_email_keeps_its_first_letter_and_domain() -> None:
    assert mask_email("ana.souza@vendasdemo.com.br") == "a***@vendasdemo.com.br"
    assert mask_email("not-an-email") == "***"


def test_a_message_text_becomes_its_length_and_fingerprint() -> None:
    masked = mask_text("Meu CPF é 123.456.789-00")
    assert "123" not in masked and masked == f"<24 chars #{fingerprint('Meu CPF é 123.456.789-00')}>"
