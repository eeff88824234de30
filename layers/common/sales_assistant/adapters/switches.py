"""The kill switch: one SSM parameter, read with a short cache, that stops the assistant's outgoing
messages without a deploy, for everyone or for some salespeople's leads.

Value (JSON): {"stop_all": false, "paused_salespeople": [8401234]}, and optionally "monthly_budget_usd": 500,
which overrides the MONTHLY_BUDGET_USD setting (services/budget.py) without a deploy. A missing parameter stops
nothing; an unreadable one keeps the last value read (or stops nothing), and says so in the logs.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, ValidationError

from sales_assistant.models import Model
from sales_assistant.observability import logger

CACHE_SECONDS = 30


class KillSwitch(Model):
    model_config = ConfigDict(extra="ignore", frozen=True)

    stop_all: bool = False
    paused_salespeople: list[int] = []
    monthly_budget_usd: float | None = Field(None, ge=0)  # None: the MONTHLY_BUDGET_USD setting

    def stops(self, vendor_id: int | None) -> str | None:
        """Why a message to a lead of `vendor_id` must not go out now (None: it may)."""
        if self.stop_all:
            return "kill_switch"
        if vendor_id is not None and vendor_id in self.paused_salespeople:
            return "salesperson_paused"
        return None


class SsmSwitches:
    """Reads the kill switch from SSM (Powertools Parameters, cached CACHE_SECONDS)."""

    def __init__(self, parameter_name: str) -> None:
        self._parameter_name = parameter_name
        self._last = KillSwitch()

    def stops(self, vendor_id: int | None) -> str | None:
        return self._current().stops(vendor_id) if self._parameter_name else None

    def monthly_budget_usd(self) -> float | None:
        return self._current().monthly_budget_usd if self._parameter_name else None

    def _current(self) -> KillSwitch:
        from aws_lambda_powertools.utilities import parameters

        try:
            raw = parameters.get_parameter(self._parameter_name, max_age=CACHE_SECONDS)
            self._last = KillSwitch.model_validate_json(raw or "{}")
        except parameters.exceptions.GetParameterError as error:
            if "ParameterNotFound" not in str(error):
                logger.warning("kill switch unreadable: keeping the last value", extra={"error": type(error).__name__})
            else:
                self._last = KillSwitch()
        except ValidationError:
            logger.warning("kill switch is not valid JSON: keeping the last value")
        return self._last
