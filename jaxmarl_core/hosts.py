"""Many hosts: one sweep over the devices of several processes.

Every host runs the same command with ``JAX_COORDINATOR_ADDRESS``,
``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` set (or under a cluster manager
that ``jax.distributed.initialize`` detects). Importing the package joins the
run (:func:`maybe_initialize_distributed`), because JAX must join before its
backend starts and importing Jumanji starts it. Process 0 writes every output
file; the others compute their share and write nothing.

This module imports nothing that starts JAX's backend.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Sequence

import jax


def maybe_initialize_distributed() -> bool:
    """Joins a multi-host run when ``JAX_COORDINATOR_ADDRESS`` is set (with
    ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``, unless a cluster such as SLURM
    provides them). Every host then runs the same command; the runs axis is
    sharded over the devices of all hosts, and CPU devices talk through gloo.

    ``JAXMARL_CORE_HEARTBEAT_SECONDS`` (default 60) is how long the others wait
    for a process that stopped answering before they stop too. Returns whether
    it initialised."""
    if not os.environ.get("JAX_COORDINATOR_ADDRESS"):
        return False
    if jax.distributed.is_initialized():
        return True
    num = os.environ.get("JAX_NUM_PROCESSES")
    pid = os.environ.get("JAX_PROCESS_ID")
    heartbeat = int(os.environ.get("JAXMARL_CORE_HEARTBEAT_SECONDS", "60"))
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        num_processes=int(num) if num else None,
        process_id=int(pid) if pid else None,
        heartbeat_timeout_seconds=heartbeat,
        # A process that never comes is an error after this long, not a hang.
        initialization_timeout=max(heartbeat, 30),
    )
    return True


_AGREEMENTS = itertools.count()


class AgreedError(ValueError):
    """A failure that every process of a multi-host run raises at the same point."""


def jax_distributed_joined() -> bool:
    """Whether this process is part of a multi-host run."""
    return jax.distributed.is_initialized()


def is_writer() -> bool:
    """Whether this process writes output files: in a multi-host run, process 0 only."""
    return jax.process_index() == 0


def stop_alone(exit_code: int) -> int:
    """How a process that fails on its own leaves a multi-host run: at once,
    without JAX's shutdown barrier, where it would wait (5 minutes) for peers
    that are waiting for it. The coordinator then misses its heartbeats and
    stops the others, naming it. Outside a multi-host run: returns the code."""
    if jax_distributed_joined():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exit_code)
    return exit_code


def agree(error: str | None, wait_seconds: float = 600) -> None:
    """Every process says whether its part went well; if any did not, every
    process raises ``AgreedError`` (a ``ValueError``) with the first failure's message (so one
    process's bad output directory stops all of them, not just itself).

    Every process must call it at the same points. It goes through the
    coordinator's key-value store, not the devices, so it works whatever
    devices each process has; a process that has not answered after
    ``wait_seconds`` is named in the error."""
    if jax.process_count() == 1:
        if error:
            raise AgreedError(error)
        return
    from jax._src import distributed  # the coordinator's key-value store has no public name

    client = distributed.global_state.client
    prefix = f"jaxmarl_core/agree/{next(_AGREEMENTS)}"
    client.key_value_set(f"{prefix}/{jax.process_index()}", "error:" + error if error else "ok")
    for pid in range(jax.process_count()):
        try:
            said = client.blocking_key_value_get(f"{prefix}/{pid}", int(1000 * wait_seconds))
        except Exception:  # the store's timeout error has no stable type
            raise ValueError(
                f"process {pid} did not answer within {wait_seconds:.0f} s "
                "(stopped, or much slower than the others)"
            ) from None
        if said.startswith("error:"):
            raise AgreedError(said[len("error:") :])


def usable_local_devices(devices: Sequence[jax.Device]) -> list[jax.Device]:
    """``devices`` without this process's CPU devices beyond the cores it may
    use (``os.sched_getaffinity``), with a one-line warning on stderr.

    XLA:CPU runs every host device's program on one thread pool sized by those
    cores. With ``--xla_force_host_platform_device_count=4`` under ``taskset -c
    0``, a 4-run QMIX sweep on LBF sharded over the 4 devices hangs (without this
    package's XLA flags, XLA aborts after 40 s at an all-gather that 3 of the 4
    device threads reached); over one device it finishes in about 40 s. Extra
    host devices on too few cores add no speed either. In a
    multi-host run the processes must shard over the same devices, so there it
    refuses (``AgreedError`` on every process) instead of dropping devices."""
    cpus = [d for d in devices if d.platform == "cpu" and d.process_index == jax.process_index()]
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    too_many = len(cpus) > cores
    if jax.process_count() > 1:
        agree(
            f"process {jax.process_index()} has {len(cpus)} CPU devices but may use {cores} "
            "core(s), which can deadlock XLA:CPU; give each process at most as many devices "
            "(--xla_force_host_platform_device_count) as cores"
            if too_many
            else None
        )
        return list(devices)
    if not too_many:
        return list(devices)
    print(
        f"jaxmarl-core: warning: {len(cpus)} CPU devices but this process may use {cores} "
        f"core(s); sharding over {cores} device(s), since more can deadlock XLA:CPU",
        file=sys.stderr,
    )
    keep = set(cpus[:cores])
    return [d for d in devices if d in keep or d not in cpus]
