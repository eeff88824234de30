"""In-memory fakes of the ports (sales_assistant/services/ports/): the unit tests run the flows on them."""

from __future__ import annotations

from sales_assistant.models.kommo import KommoUser
from sales_assistant.models.vendor import Vendor, VendorProfile


class InMemorySalespeople:
    """The salespeople cache (ports.storage.Salespeople) in a dict."""

    def __init__(self) -> None:
        self.vendors: dict[int, Vendor] = {}

    def get(self, vendor_id: int) -> Vendor | None:
        return self.vendors.get(vendor_id)

    def all(self) -> list[Vendor]:
        return list(self.vendors.values())

    def save_from_kommo(self, user: KommoUser, synced_at: int) -> None:
        profile = self.vendors[user.id].profile if user.id in self.vendors else VendorProfile()
        self.vendors[user.id] = Vendor(
            vendor_id=user.id,
            name=user.name,
            email=user.email,
            active=user.rights.is_active,
            synced_at=synced_at,
            profile=profile,
        )

    def save_profile(self, vendor_id: int, profile: VendorProfile) -> None:
        self.vendors[vendor_id] = self.vendors[vendor_id].model_copy(update={"profile": profile})

    def mark_left(self, vendor_id: int, left_at: int) -> None:
        self.vendors[vendor_id] = self.vendors[vendor_id].model_copy(update={"active": False, "left_at": left_at})
