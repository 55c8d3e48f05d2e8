"""The per-API request slots (``sources._http.Slots``): list pages before waiting detail calls, never more
than the budget at once, and a cancelled waiter neither holds nor loses a slot."""

from __future__ import annotations

import asyncio

from sources._http import Slots


async def _take_turns(slots: Slots, order: list[str], name: str, detail: bool, gate: asyncio.Event) -> None:
    async with slots.hold(detail):
        order.append(name)
        await gate.wait()


def test_a_waiting_list_page_gets_the_next_slot_before_waiting_details():
    async def scenario() -> list[str]:
        slots, order, gate = Slots(1), [], asyncio.Event()
        holder = asyncio.create_task(_take_turns(slots, order, "first", True, gate))
        await asyncio.sleep(0)
        waiters = [asyncio.create_task(_take_turns(slots, order, f"detail-{i}", True, gate)) for i in range(3)]
        waiters.append(asyncio.create_task(_take_turns(slots, order, "page", False, gate)))
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(holder, *waiters)
        return order

    assert asyncio.run(scenario()) == ["first", "page", "detail-0", "detail-1", "detail-2"]


def test_never_more_than_the_budget_at_once_and_cancelled_waiters_give_their_turn_back():
    async def scenario() -> tuple[int, int]:
        slots, peak, inside = Slots(3), [0], [0]

        async def call(detail: bool) -> None:
            async with slots.hold(detail):
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
                await asyncio.sleep(0.001)
                inside[0] -= 1

        tasks = [asyncio.create_task(call(i % 3 == 0)) for i in range(60)]
        await asyncio.sleep(0)
        for task in tasks[10:20]:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert slots._free == 3  # every slot came back, once
        return peak[0], sum(t.cancelled() for t in tasks)

    peak, cancelled = asyncio.run(scenario())
    assert peak == 3 and cancelled == 10
