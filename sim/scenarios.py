"""Scripted step lists for the outage runs of issue 20 (docs/reliability.md): many conversations, and in
their middle an hour-long Kommo outage, an hour-long n8n outage, or both flapping (down 30 s, up 30 s)
for an hour. Run with `python -m sim --scenario kommo-down --conversations 200`."""

from __future__ import annotations

from sim.steps import Step

HOUR = 3600


def scenario(name: str, conversations: int) -> list[Step]:
    """The steps of one outage run: half the clients write before it, half during it; then it ends, and one
    more client writes."""
    before, during = conversations // 2, conversations - conversations // 2
    steps: list[Step] = []
    for lead in range(before):
        steps += [{"do": "client_writes", "lead": lead, "say": "price"}, {"do": "wait", "seconds": 5}]
    writes_during = [
        step for lead in range(before, conversations) for step in _writes(lead, spacing=max(HOUR // 2 // during, 1))
    ]
    if name == "flapping":
        writes_during = [step for step in writes_during if step["do"] != "wait"]
        cycles = HOUR // 60
        per_cycle = -(-len(writes_during) // cycles)
        for cycle in range(cycles):
            steps += [{"do": "outage", "of": "kommo", "seconds": 30}, {"do": "outage", "of": "n8n", "seconds": 30}]
            steps += writes_during[cycle * per_cycle : (cycle + 1) * per_cycle]
            steps += [{"do": "wait", "seconds": 60}]
        return [*steps, {"do": "wait", "seconds": 60}, *_after(conversations)]
    steps += [{"do": "outage", "of": name.removesuffix("-down"), "seconds": HOUR}]
    steps += writes_during
    return [*steps, {"do": "wait", "seconds": HOUR}, *_after(conversations)]


def _after(conversations: int) -> list[Step]:
    """Once it is over, one more client writes: answered by n8n again (the breaker's probe closes it)."""
    return [{"do": "client_writes", "lead": conversations, "say": "price"}, {"do": "wait", "seconds": 600}]


def _writes(lead: int, spacing: int) -> list[Step]:
    return [{"do": "client_writes", "lead": lead, "say": "hello"}, {"do": "wait", "seconds": spacing}]


SCENARIOS = ("kommo-down", "n8n-down", "flapping")
