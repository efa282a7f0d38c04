"""Many runs of one config, trained one logging step (a chunk) at a time.

This is the loop under both the driver (``run``: the seeds of one setting) and
the sweeps (a batch of (setting, seed) runs). Every run has its own key and
its own traced hyperparameters, so one compiled chunk serves any mix of
settings and seeds. Between chunks the loop is on the host: it hands each
logging step's metrics to a callback, writes checkpoints, stops on SIGINT or
SIGTERM (after a checkpoint) and, if asked, on non-finite values.

    programs = compile_programs(config, num_runs)
    start = start_runs(programs, runs, checkpoints, resume=False)
    done = train_runs(programs, runs, start, checkpoints, checkpoint_every=10)
    done.metrics["eval_return"]        # [num_runs, num_logs]
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmarl_core.checkpoints import Checkpoints
from jaxmarl_core.config import Config
from jaxmarl_core.groups import default_width, grouped
from jaxmarl_core.train import Schedule, env_params_of, make_algorithm, make_chunk, schedule

# Metrics that may be NaN in a healthy run (no training episode ended).
_MAY_BE_NAN = ("episode_return", "absolute_return", "win_rate")


class RunStopped(Exception):
    """Training stopped before its end (signal, non-finite values); ``exit_code``
    is the command line's exit status."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Runs(NamedTuple):
    """R runs: ``keys`` uint32[R, 2] (run r is ``train(keys[r], ...)``),
    ``hparams``, name -> float32[R], and ``env_params``: None (every run on the
    config's environment) or its parameters with a leading [R] axis (run r on
    its own game). Device arrays, sharded over the runs axis when the programs are."""

    keys: jax.Array
    hparams: dict[str, jax.Array]
    env_params: Any = None


class Programs(NamedTuple):
    """The compiled pieces for R runs of one config.

    ``keys(keys) -> (init_keys [R, 2], eval_keys [R, num_logs, 2])``;
    ``init(init_keys, hparams, env_params) -> state``; ``chunk(state, hparams,
    env_params, eval_keys [R, 2]) -> (state, metrics)`` (compiled, donates
    ``state``; ``env_params`` as in :class:`Runs`);
    ``finite(state) -> bool[R]`` (every parameter finite); ``state_spec``, the
    learner state's shapes and dtypes.
    """

    keys: Callable
    init: Callable
    chunk: Callable
    finite: Callable
    state_spec: Any
    sched: Schedule
    num_runs: int
    compile_seconds: float
    bytes_needed: float


class Start(NamedTuple):
    """Where the loop starts: ``step`` logging steps done (0, or a checkpoint's),
    their ``history`` (per step, name -> [R]) and the checkpoint's ``meta``."""

    state: Any
    step: int
    history: list[dict[str, np.ndarray]]
    meta: dict[str, Any]


class Done(NamedTuple):
    """``metrics``: name -> [R, num_logs]; ``train_seconds``: this session's
    time in the loop after compilation (chunks, logging and checkpoints)."""

    state: Any
    metrics: dict[str, np.ndarray]
    train_seconds: float


class _StallWatch:
    """Host-side record of the last finished logging step, for :func:`watch_for_stalls`."""

    lock = threading.Lock()
    last = 0.0
    longest = 0.0

    @classmethod
    def beat(cls, chunk_seconds: float) -> None:
        with cls.lock:
            cls.last = time.monotonic()
            cls.longest = max(cls.longest, chunk_seconds)


@contextlib.contextmanager
def watch_for_stalls(message: str, min_seconds: float = 1800.0, factor: float = 50.0):
    """While the block runs: ends the process (exit status 1, ``message`` on stderr) when no logging
    step has finished for ``max(min_seconds, factor * the longest step so far)``.

    jaxlib 0.10.2's CPU runtime was seen, rarely, to stop in the middle of a
    program with every thread idle, the host waiting for ever. A blocked XLA
    call cannot be interrupted, so the process leaves at once; the command line
    arms this for long work whose outputs are its record (``table``: a re-run
    keeps the finished cells). ``JAXMARL_CORE_STALL_SECONDS`` overrides
    ``min_seconds``.
    """
    min_seconds = float(os.environ.get("JAXMARL_CORE_STALL_SECONDS", min_seconds))
    _StallWatch.beat(0.0)
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(min(10.0, min_seconds / 4)):
            with _StallWatch.lock:
                idle = time.monotonic() - _StallWatch.last
                limit = max(min_seconds, factor * _StallWatch.longest)
            if idle > limit:
                print(
                    f"jaxmarl-core: no logging step finished in {idle:.0f} s (the longest took "
                    f"{_StallWatch.longest:.1f} s); the CPU runtime has stalled. {message}",
                    file=sys.stderr,
                    flush=True,
                )
                os._exit(1)

    threading.Thread(target=watch, name="jaxmarl-core-stall-watch", daemon=True).start()
    try:
        yield
    finally:
        stop.set()


def run_keys(key: jax.Array, num_logs: int) -> tuple[jax.Array, jax.Array]:
    """A run's key split into its init key and one evaluation key per logging
    step: (uint32[2], uint32[num_logs, 2])."""
    init_key, eval_key = jax.random.split(key)
    return init_key, jax.random.split(eval_key, num_logs)


def runs_of(
    keys: np.ndarray, hparams: dict[str, Any], sharding=None, env_params: Any = None
) -> Runs:
    """Runs from host arrays; a scalar hyperparameter is shared by every run;
    ``env_params``: None, or host arrays with a leading [R] axis."""
    n = keys.shape[0]
    hp = {k: np.broadcast_to(np.asarray(v, np.float32), (n,)) for k, v in hparams.items()}

    def place(x: np.ndarray) -> jax.Array:
        if sharding is None:
            return jnp.asarray(x)
        x = np.ascontiguousarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])

    return Runs(
        place(np.asarray(keys)),
        {k: place(v) for k, v in hp.items()},
        jax.tree.map(lambda x: place(np.asarray(x)), env_params),
    )


def _params_finite(state: Any) -> jax.Array:
    """bool[]: every floating-point parameter of one learner state is finite."""
    leaves = [x for x in jax.tree.leaves(state.params) if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def _bytes_needed(compiled) -> float:
    m = compiled.memory_analysis()
    if m is None:
        return 0.0
    return (
        m.argument_size_in_bytes
        + m.output_size_in_bytes
        + m.temp_size_in_bytes
        - m.alias_size_in_bytes
    )


def compile_programs(
    config: Config, num_runs: int, sharding=None, env_params: bool = False
) -> Programs:
    """Compiles the chunk for ``num_runs`` runs (sharded over the runs axis with
    ``sharding``, a NamedSharding, or on the default device); with
    ``env_params``, every run takes its environment's parameters as data
    (:class:`Runs`), so one program trains several games of one shape."""
    env, algo = make_algorithm(config)
    sched = schedule(config, algo)
    out = {} if sharding is None else {"out_shardings": sharding}

    def on(params: Any) -> tuple[Any, Any]:
        return (env, algo) if params is None else make_algorithm(config, env, params)

    def init(key: jax.Array, hparams: dict[str, jax.Array], params: Any) -> Any:
        return on(params)[1].init(key, hparams)

    def chunk(state: Any, hparams: dict[str, jax.Array], params: Any, eval_key: jax.Array):
        return make_chunk(config, *on(params), sched)(state, hparams, eval_key)

    t0 = time.perf_counter()
    keys_v = jax.jit(jax.vmap(partial(run_keys, num_logs=sched.num_logs)), **out)
    init_v = jax.jit(jax.vmap(init), **out)
    chunk_v = jax.jit(jax.vmap(grouped(chunk, default_width())), donate_argnums=0, **out)
    finite_v = jax.jit(jax.vmap(_params_finite))
    runs_spec = lambda shape, dtype: jax.ShapeDtypeStruct(
        (num_runs, *shape), dtype, sharding=sharding
    )
    key_spec = runs_spec((2,), jnp.uint32)
    hp_spec = {k: runs_spec((), jnp.float32) for k in config.hparams_defaults}
    params_spec = (
        jax.tree.map(lambda x: runs_spec(jnp.shape(x), x.dtype), env_params_of(env))
        if env_params
        else None
    )
    init_lowered = init_v.trace(key_spec, hp_spec, params_spec).lower()
    state_spec = init_lowered.out_info
    if sharding is not None:
        state_spec = jax.tree.map(
            lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), state_spec
        )
    compiled = chunk_v.lower(state_spec, hp_spec, params_spec, key_spec).compile()
    # init too, ahead of time: compile_seconds then counts every compilation.
    init_c = init_lowered.compile()
    return Programs(
        keys=keys_v,
        init=init_c,
        chunk=compiled,
        finite=finite_v,
        state_spec=state_spec,
        sched=sched,
        num_runs=num_runs,
        compile_seconds=time.perf_counter() - t0,
        bytes_needed=_bytes_needed(compiled),
    )


def start_runs(
    programs: Programs,
    runs: Runs,
    checkpoints: Checkpoints | None,
    resume: bool,
    report=None,
    sharding=None,
) -> Start:
    """The initial state, or with ``resume`` the newest usable checkpoint's
    (falling back to the initial state if there is none)."""
    # Every leaf on the runs axis's sharding, as the compiled chunk expects (XLA
    # may leave an empty leaf of the init program's output replicated).
    place = (lambda state: state) if sharding is None else partial(jax.device_put, device=sharding)
    if resume and checkpoints is not None:
        found = checkpoints.restore(programs.state_spec, report=report)
        if found is not None:
            history = [{k: v[:, t] for k, v in found.metrics.items()} for t in range(found.step)]
            return Start(place(found.state), found.step, history, found.meta)
    init_keys, _ = programs.keys(runs.keys)
    return Start(place(programs.init(init_keys, runs.hparams, runs.env_params)), 0, [], {})


def stack_history(history: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-logging-step metrics (name -> [R]) as name -> [R, steps]."""
    return {k: np.stack([h[k] for h in history], axis=1) for k in history[0]}


def _to_host(tree: Any) -> Any:
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return jax.tree.map(np.asarray, multihost_utils.process_allgather(tree, tiled=True))
    return jax.device_get(tree)


def _first_non_finite(step: dict[str, np.ndarray], params_ok: np.ndarray) -> tuple[str, int] | None:
    """(what, run index) of the first non-finite metric or parameter, or None."""
    for name in sorted(step):
        if name in _MAY_BE_NAN:
            continue
        bad = ~np.isfinite(np.asarray(step[name], np.float64))
        if bad.any():
            return name, int(np.argmax(bad))
    if not params_ok.all():
        return "parameters", int(np.argmin(params_ok))
    return None


@contextlib.contextmanager
def caught_signals(enabled: bool = True):
    """Records SIGINT and SIGTERM instead of dying (a second one acts as usual).
    Yields the list of caught signal numbers. A no-op outside the main thread."""
    caught: list[int] = []
    previous = {}

    def handler(signum, frame):
        caught.append(signum)
        signal.signal(signum, previous[signum])

    if enabled and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
    try:
        yield caught
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def train_runs(
    programs: Programs,
    runs: Runs,
    start: Start,
    checkpoints: Checkpoints | None = None,
    checkpoint_every: int = 0,
    meta: Callable[[float], dict[str, Any]] = lambda train_seconds: {},
    on_step: Callable[[int, dict[str, np.ndarray], float], None] | None = None,
    stop_on_non_finite: bool = False,
    run_names: Callable[[int], str] = str,
    resume_hint: str = "",
) -> Done:
    """Runs the chunks from ``start`` to the end.

    Args:
        checkpoints, checkpoint_every: write a checkpoint every that many
            logging steps and after the last (0: never); also after the step in
            which SIGINT or SIGTERM arrived, before stopping.
        meta: plain data to store with a checkpoint, given this session's
            seconds in the loop so far.
        on_step: called after each logging step with (steps done, that step's
            metrics name -> [R], this session's env steps per second).
        stop_on_non_finite: stop (RunStopped, exit code 1) at the first
            non-finite metric or parameter of any run, before recording it.
        run_names: how a message names run r.
        resume_hint: what the stop message says to do to resume.

    Raises:
        RunStopped: a signal arrived, or non-finite values with
            ``stop_on_non_finite``.
    """
    sched = programs.sched
    per_log = sched.updates_per_log * sched.steps_per_update
    _, eval_keys = programs.keys(runs.keys)
    state, history = start.state, list(start.history)
    train_seconds = 0.0
    last_checkpoint = start.step or None

    def save(done: int) -> None:
        checkpoints.save(done, state, stack_history(history), meta(train_seconds))

    t0 = time.perf_counter()
    with (
        caught_signals(enabled=checkpoints is not None) as caught,
        contextlib.closing(checkpoints) if checkpoints else contextlib.nullcontext(),
    ):
        for i in range(start.step, sched.num_logs):
            t_chunk = time.perf_counter()
            state, metrics = programs.chunk(state, runs.hparams, runs.env_params, eval_keys[:, i])
            step = _to_host(metrics)
            _StallWatch.beat(time.perf_counter() - t_chunk)
            params_ok = np.asarray(_to_host(programs.finite(state))) if stop_on_non_finite else None
            train_seconds = time.perf_counter() - t0
            step["env_steps"] = np.full((programs.num_runs,), (i + 1) * per_log, np.int32)
            bad = _first_non_finite(step, params_ok) if stop_on_non_finite else None
            if bad is not None:
                kept = (
                    f"the last good checkpoint is {last_checkpoint} ({checkpoints.path})"
                    if last_checkpoint
                    else "there is no checkpoint"
                )
                raise RunStopped(
                    f"non-finite {bad[0]} at logging step {i + 1} (env step {(i + 1) * per_log}) "
                    f"in {run_names(bad[1])}; training stopped, {kept}",
                    exit_code=1,
                )
            history.append(step)
            done = i + 1
            if on_step is not None:
                sps = programs.num_runs * (done - start.step) * per_log / train_seconds
                on_step(done, step, sps)
            due = checkpoint_every > 0 and (done % checkpoint_every == 0 or done == sched.num_logs)
            if checkpoints is not None and (due or caught):
                save(done)
                last_checkpoint = done
            if caught and done < sched.num_logs:
                name = signal.Signals(caught[0]).name
                if checkpoints is None:
                    after = "no checkpoint (checkpoint_every=0)"
                else:
                    after = f"checkpoint {done} written; {resume_hint}"
                raise RunStopped(
                    f"stopped by {name} after logging step {done}/{sched.num_logs}; {after}",
                    exit_code=128 + caught[0],
                )
    # (The last checkpoint is complete here: leaving the block above waited for it.)
    return Done(state=state, metrics=stack_history(history), train_seconds=time.perf_counter() - t0)
