"""The embedded pool takes admission work before pushes before bulk work."""

from __future__ import annotations

import threading

from service.jobs.dispatch import WORKER_QUEUES, Queue, queue_rank
from service.jobs.priority_pool import PriorityPool


def test_queued_work_runs_by_rank_then_in_arrival_order() -> None:
    pool = PriorityPool(1, name="test")
    gate, done = threading.Event(), threading.Event()
    order: list[str] = []
    pool.submit(Queue.BULK.rank, gate.wait)  # occupies the only thread while the rest queue
    for name, queue in [
        ("bulk-1", Queue.BULK),
        ("push-1", Queue.PUSH),
        ("bulk-2", Queue.BULK),
        ("admission-1", Queue.ADMISSION),
        ("push-2", Queue.PUSH),
    ]:
        pool.submit(queue.rank, lambda name=name: order.append(name))  # type: ignore[misc]
    pool.submit(Queue.BULK.rank, done.set)
    gate.set()
    assert done.wait(10)
    pool.shutdown()
    assert order == ["admission-1", "push-1", "push-2", "bulk-1", "bulk-2"]


def test_a_failing_task_leaves_the_worker_running() -> None:
    pool = PriorityPool(1, name="test")
    done = threading.Event()
    pool.submit(0, lambda: 1 / 0)
    pool.submit(0, done.set)
    assert done.wait(10)
    pool.shutdown()


def test_shutdown_drops_queued_work_and_refuses_new() -> None:
    pool = PriorityPool(1, name="test")
    gate = threading.Event()
    ran: list[int] = []
    pool.submit(0, gate.wait)
    pool.submit(1, lambda: ran.append(1))
    stopper = threading.Thread(target=pool.shutdown)
    stopper.start()
    while pool.pending() < 2:  # the queued task and the stop signal, ahead of it
        threading.Event().wait(0.01)
    gate.set()
    stopper.join(10)
    pool.submit(0, lambda: ran.append(2))
    assert not stopper.is_alive() and ran == []


def test_workers_and_unknown_queues_follow_the_same_order() -> None:
    assert WORKER_QUEUES == "admission,push,bulk"
    assert queue_rank("admission") < queue_rank("push") < queue_rank("bulk")
    assert queue_rank("something-else") == Queue.BULK.rank
