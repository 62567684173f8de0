"""CPU threads for the model runtimes (PyTorch for the embeddings, llama.cpp for the local model).

Both default to every core of the machine, in every process. A Celery worker with two pool processes
on two cores then runs four busy threads on two cores, and each process's threads wait for each other:
``make bench`` measured the router drain at about half the speed of one pool process. So, unless a
setting names a number, each pool process gets its share: the cores divided by the pool's processes
(at least one). The worker records its process count before it forks (``agents.tasks``).
"""

import os

_processes = 1


def pool_processes_set(count: int) -> None:
    global _processes
    _processes = max(1, count)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_process(configured: int = 0) -> int:
    """``configured`` when above 0, else this process's share of the cores."""
    if configured > 0:
        return configured
    return max(1, cores() // _processes)
