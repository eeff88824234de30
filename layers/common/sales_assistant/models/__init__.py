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
    model at once: pydantic 2.13's rebuild is not thread-safe (it reads the class while another thread
    changes it), so one model is built at a time; the others wait, then find it built."""

    model_config = ConfigDict(defer_build=True)

    @classmethod
    def model_rebuild(
        cls,
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Any = None,
    ) -> bool | None:
        """pydantic's rebuild, one model at a time (this frame counted in the namespace depth)."""
        with _building:
            return super().model_rebuild(
                force=force,
                raise_errors=raise_errors,
                _parent_namespace_depth=_parent_namespace_depth + 1 if _parent_namespace_depth > 0 else 0,
                _types_namespace=_types_namespace,
            )
