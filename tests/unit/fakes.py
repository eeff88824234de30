"""In-memory fakes of the ports (sales_assistant/services/ports/): the unit tests run the flows on them."""

from __future__ import annotations

from sales_assistant.models.kommo import KommoUser
from sales_assistant.models.salesperson import Salesperson, SalespersonProfile


class InMemorySalespeople:
    """The salespeople cache (ports.storage.Salespeople) in a dict."""

    def __init__(self) -> None:
        self.salespeople: dict[int, Salesperson] = {}

    def get(self, vendor_id: int) -> Salesperson | None:
        return self.salespeople.get(vendor_id)

    def all(self) -> list[Salesperson]:
        return list(self.salespeople.values())

    def save_from_kommo(self, user: KommoUser, synced_at: int) -> None:
        profile = self.salespeople[user.id].profile if user.id in self.salespeople else SalespersonProfile()
        self.salespeople[user.id] = Salesperson(
            vendor_id=user.id,
            name=user.name,
            email=user.email,
            active=user.rights.is_active,
            synced_at=synced_at,
            profile=profile,
        )

    def save_profile(self, vendor_id: int, profile: SalespersonProfile) -> None:
        self.salespeople[vendor_id] = self.salespeople[vendor_id].model_copy(update={"profile": profile})

    def mark_left(self, vendor_id: int, left_at: int) -> None:
        self.salespeople[vendor_id] = self.salespeople[vendor_id].model_copy(
            update={"active": False, "left_at": left_at}
        )
