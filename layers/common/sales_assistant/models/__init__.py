"""Pydantic models at every boundary: Kommo webhooks, queue items, domain records, the n8n contract."""

from __future__ import annotations

import threading
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

MAX_KOMMO_ID = 10**15  # Kommo ids are far below; bounds what reaches DynamoDB and logs
KommoId = Annotated[int, Field(gt=0, lt=MAX_KOMMO_ID)]
_building = threading.RLock()


class Model(BaseModel):
    """The base of every model of the service. Its validator is built when it is first used, not when
    its module is imported: a cold start builds only the models that its first event needs (about
    0.5 ms each), not all of them. A batch's records run in threads, so two may be the first to use a
    model at once, and pydantic 2.13's rebuild is not thread-safe: a thread can find the class half
    rebuilt by another (https://github.com/pydantic/pydantic/issues/11849 and
    https://github.com/pydantic/pydantic/issues/13419; fixed upstream by a lock inside `model_rebuild`,
    https://github.com/pydantic/pydantic/pull/13438, not in the 2.13.4 we pin). So one model is built
    at a time; the others wait, then find it built. Once our pin has that fix, this override can go."""

    model_config = ConfigDict(defer_build=True)

    @classmethod
    def model_rebuild(cls, *, force: bool = False, raise_errors: bool = True, **_: Any) -> bool | None:
        """pydantic's rebuild, one model at a time. Every first use of a deferred model comes through here
        (pydantic calls `model_rebuild` with private frame-counting arguments, so they must be accepted).
        Only the public arguments are passed on: every model's field types are resolved when its class is
        made (from its module, or the function it is made in), so no build needs the caller's namespace."""
        with _building:
            return super().model_rebuild(force=force, raise_errors=raise_errors)
