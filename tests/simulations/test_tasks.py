"""Simulated tasks: started and woken one at a time, in the order events asked, each until
it waits again or ends; the first answer to a wait wins; a task's bug stops the run."""

from __future__ import annotations

import asyncio

import pytest

from simulations.tasks import SimTasks


async def test_tasks_run_one_at_a_time_in_the_order_they_were_woken() -> None:
    tasks = SimTasks()
    trace: list[str] = []
    answers = {name: tasks.future() for name in ("a", "b")}

    async def task(name: str) -> None:
        trace.append(f"{name} starts")
        # Real I/O in between (a thread hop, as the store's reads are) does not let the other run.
        await asyncio.to_thread(lambda: None)
        trace.append(f"{name} waits")
        got = await tasks.wait(answers[name])
        await asyncio.to_thread(lambda: None)
        trace.append(f"{name} got {got}")

    tasks.spawn("BR01", task("a"))
    tasks.spawn("BR02", task("b"))
    await tasks.settle()
    assert trace == ["a starts", "a waits", "b starts", "b waits"]
    assert tasks.live == 2

    tasks.resolve(answers["b"], 1)
    tasks.resolve(answers["a"], 2)
    await tasks.settle()
    assert trace[4:] == ["b got 1", "a got 2"]
    assert tasks.live == 0


async def test_the_first_answer_wins_and_later_copies_change_nothing() -> None:
    tasks = SimTasks()
    got: list[str] = []
    answer = tasks.future()

    async def wait() -> None:
        got.append(await tasks.wait(answer))

    tasks.spawn("BR01", wait())
    await tasks.settle()
    tasks.resolve(answer, "placed")
    tasks.resolve(answer, "timed out")
    await tasks.settle()
    assert got == ["placed"]


async def test_cancelling_a_nodes_tasks_ends_them_where_they_wait_and_spares_the_others() -> None:
    tasks = SimTasks()
    ended: list[str] = []

    async def wait(name: str) -> None:
        try:
            await tasks.wait(tasks.future())
        except asyncio.CancelledError:
            ended.append(name)
            raise

    tasks.spawn("BR01", wait("BR01"))
    tasks.spawn("BR02", wait("BR02"))
    await tasks.settle()
    await tasks.cancel("BR01")
    assert (ended, tasks.live) == (["BR01"], 1)
    await tasks.cancel_all()
    assert (ended, tasks.live) == (["BR01", "BR02"], 0)


async def test_a_bug_in_a_task_stops_the_run() -> None:
    tasks = SimTasks()

    async def broken() -> None:
        raise ZeroDivisionError("a bug")

    tasks.spawn("BR01", broken())
    with pytest.raises(ZeroDivisionError, match="a bug"):
        await tasks.settle()


async def test_only_a_spawned_task_waits_in_simulated_time() -> None:
    tasks = SimTasks()
    with pytest.raises(AssertionError, match="only a spawned task"):
        async with asyncio.timeout(1):  # were it let through, nothing would ever answer
            await tasks.wait(tasks.future())
