"""The salespeople cache in DynamoDB, the profile config (SSM parameter in AWS), and the fingerprint of the
salesperson list n8n last stored."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from sales_assistant.adapters.aws import all_items, applied, dynamodb_table, plain
from sales_assistant.models.kommo import KommoUser
from sales_assistant.models.salesperson import ProfileSource, Salesperson, SalespersonProfile, SalespersonProfiles
from sales_assistant.observability import count, logger

PROFILE_CACHE_SECONDS = 60
SENT_LIST_KEY = "vendor-sync#sent-list"


class DynamoSalespeople:
    """One item per salesperson: Kommo fields and the `profile` map, updated separately."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    @property
    def _table(self) -> Any:
        return dynamodb_table(self._table_name)

    def all(self) -> list[Salesperson]:
        salespeople = (_stored(item) for item in all_items(self._table.scan))
        return sorted(salespeople, key=lambda salesperson: salesperson.vendor_id)

    def get(self, vendor_id: int) -> Salesperson | None:
        item = self._table.get_item(Key={"vendor_id": vendor_id}).get("Item")
        return _stored(item) if item else None

    def save_from_kommo(self, user: KommoUser, synced_at: int) -> None:
        self._table.update_item(
            Key={"vendor_id": user.id},
            UpdateExpression=(
                "SET #name = :name, email = :email, active = :active, is_admin = :admin, group_id = :group, "
                "role_id = :role, synced_at = :now REMOVE left_at"
            ),
            ExpressionAttributeNames={"#name": "name"},
            ExpressionAttributeValues={
                ":name": user.name,
                ":email": user.email,
                ":active": user.rights.is_active,
                ":admin": user.rights.is_admin,
                ":group": user.rights.group_id,
                ":role": user.rights.role_id,
                ":now": synced_at,
            },
        )

    def save_profile(self, vendor_id: int, profile: SalespersonProfile, source: ProfileSource = "config") -> bool:
        """Store the salesperson's profile; False when there is no such salesperson, or when the profile
        config (`source` config) would overwrite a profile set through the API: the API's wins."""
        condition, values = "attribute_exists(vendor_id)", {":profile": profile.model_dump(), ":source": source}
        if source == "config":
            condition += " AND (attribute_not_exists(profile_source) OR profile_source <> :api)"
            values[":api"] = "api"
        return applied(
            lambda: self._table.update_item(
                Key={"vendor_id": vendor_id},
                UpdateExpression="SET profile = :profile, profile_source = :source",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        )

    def mark_left(self, vendor_id: int, left_at: int) -> None:
        self._table.update_item(
            Key={"vendor_id": vendor_id},
            UpdateExpression="SET active = :false, left_at = :now",
            ExpressionAttributeValues={":false": False, ":now": left_at},
        )


class DynamoSentSalespeople:
    """The fingerprint of the salesperson list n8n last stored: one item of the Kommo table."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    def last(self) -> str:
        item = dynamodb_table(self._table_name).get_item(Key={"pk": SENT_LIST_KEY}).get("Item") or {}
        return str(item.get("fingerprint", ""))

    def remember(self, fingerprint: str) -> None:
        dynamodb_table(self._table_name).put_item(Item={"pk": SENT_LIST_KEY, "fingerprint": fingerprint})


def _stored(item: dict[str, Any]) -> Salesperson:
    """A stored salesperson. A profile that an older version stored and today's rules refuse (hours past
    24:00, an overnight span) is replaced by the default profile until the next sync applies a valid one,
    so one bad profile never stops routing, availability or the sync for everyone."""
    data = plain(item)
    try:
        return Salesperson.model_validate(data)
    except ValidationError as error:
        if not any(detail["loc"][:1] == ("profile",) for detail in error.errors()):
            raise
        logger.warning(
            "stored profile no longer valid: the default profile is used", extra={"vendor_id": data.get("vendor_id")}
        )
        count("VendorProfilesInvalid")
        return Salesperson.model_validate({**data, "profile": {}})


def load_profiles(parameter_name: str) -> dict[int, SalespersonProfile]:
    """The profile config from SSM (JSON, validated); a missing parameter means no profiles."""
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        raw = parameters.get_parameter(parameter_name, max_age=PROFILE_CACHE_SECONDS)
    except GetParameterError:
        logger.warning("vendor profiles parameter not found: no local profile applied", extra={"name": parameter_name})
        return {}
    return SalespersonProfiles.model_validate_json(str(raw)).vendors
