"""The PostgreSQL pool gate admits waiters first come, first served, and never loses a slot."""

from __future__ import annotations

import asyncio

from admittance.storage.postgres import FairGate


async def use(gate: FairGate, entered: list[str], name: str, hold: asyncio.Event | None = None) -> None:
    async with gate:
        entered.append(name)
        if hold is not None:
            await hold.wait()


async def test_released_slots_go_to_the_oldest_waiter_not_to_newcomers() -> None:
    gate = FairGate(1)
    order: list[str] = []
    release_first = asyncio.Event()
    first = asyncio.create_task(use(gate, order, "first", release_first))
    await asyncio.sleep(0)
    waiters = [asyncio.create_task(use(gate, order, f"waiter-{n}")) for n in range(3)]
    await asyncio.sleep(0)
    release_first.set()
    await asyncio.sleep(0)
    newcomer = asyncio.create_task(use(gate, order, "newcomer"))  # arrives just as a slot is released
    await asyncio.gather(first, *waiters, newcomer)
    assert order == ["first", "waiter-0", "waiter-1", "waiter-2", "newcomer"]


async def test_a_cancelled_waiter_passes_its_slot_on() -> None:
    gate = FairGate(1)
    hold = asyncio.Event()
    entered: list[str] = []
    holder = asyncio.create_task(use(gate, entered, "holder", hold))
    await asyncio.sleep(0)
    doomed = asyncio.create_task(use(gate, entered, "doomed"))
    last = asyncio.create_task(use(gate, entered, "last"))
    await asyncio.sleep(0)
    doomed.cancel()
    hold.set()
    await asyncio.gather(holder, last)
    assert entered == ["holder", "last"]
    async with gate:  # the slot came back: the gate is usable again
        entered.append("again")
    assert entered[-1] == "again"
