"""n8n, as the services use it (adapters/n8n.py implements every one)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sales_assistant.models.consent import EraseRequest
    from sales_assistant.models.n8n import N8nRequest, N8nResponse, SalespeopleRequest, SchedulingRequest


class AiFailure(Exception):
    """The AI (n8n) gave no usable answer; `reason`: timeout, unreachable, http_<status>, invalid_json,
    invalid_response."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AiWriter(Protocol):
    """n8n writing a reply or a first message: raises AiFailure when there is no usable answer."""

    def ask(self, path: str, request: N8nRequest) -> N8nResponse: ...


class AgendaForwarder(Protocol):
    """n8n storing an appointment in the salesperson's agenda: any 2xx stores it; raises AiFailure otherwise."""

    def deliver(self, path: str, request: SchedulingRequest) -> None: ...


class SalespeopleForwarder(Protocol):
    """n8n storing the salesperson list (Supabase's `vendedores`): any 2xx stores it; raises AiFailure otherwise."""

    def deliver(self, path: str, request: SalespeopleRequest) -> None: ...


class ChatMemoryEraser(Protocol):
    """n8n erasing its chat memory of a contact's conversations: any 2xx erased it; raises AiFailure otherwise."""

    def deliver(self, path: str, request: EraseRequest) -> None: ...


class AiPing(Protocol):
    """n8n's signed health ping: raises AiFailure when it does not answer."""

    def ping(self, path: str) -> None: ...
