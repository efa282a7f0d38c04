"""Checkpoints of a run: the learner state of every seed and the metrics so far.

A checkpoint is written with orbax (``orbax-checkpoint``) under
``DIR/checkpoints/<step>/``, where ``step`` counts the logging steps done. Orbax
writes into a temporary folder and renames it when complete; after that we add
``digest.json``, the SHA-256 of every file of the checkpoint. A checkpoint
counts only with its digest, and only if every file still matches it, so a
checkpoint is complete or absent: a kill during the write leaves a folder
without a digest, a truncated file no longer matches. Restoring takes the
newest checkpoint that passes, says in one line which it skipped, and moves
the bad ones aside (``checkpoints/corrupt-<step>``) so that the run can write
that step again.

Orbax cannot store empty arrays (a feed-forward agent's hidden state has
width 0), so the state is stored as a flat dict of its non-empty leaves, named
after their place in the pytree, and rebuilt on the abstract state's structure.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

_DIGEST = "digest.json"


class CheckpointError(OSError):
    """A checkpoint could not be written, or no usable checkpoint was found."""


class Checkpoint(NamedTuple):
    """``step``: logging steps done; ``state``: the learner state (seed axis in
    front); ``metrics``: name -> float array [seeds, step]; ``meta``: plain data
    (timings, counters)."""

    step: int
    state: Any
    metrics: dict[str, np.ndarray]
    meta: dict[str, Any]


def _leaf_name(index: int, path: tuple) -> str:
    return f"{index:04d}" + re.sub(r"[^A-Za-z0-9_]+", ".", jax.tree_util.keystr(path))


def _flatten(tree: Any) -> dict[str, Any]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {_leaf_name(i, p): x for i, (p, x) in enumerate(leaves) if np.prod(x.shape) > 0}


def _unflatten(abstract: Any, flat: dict[str, Any]) -> Any:
    leaves, treedef = jax.tree_util.tree_flatten_with_path(abstract)
    out = []
    for i, (path, leaf) in enumerate(leaves):
        name = _leaf_name(i, path)
        out.append(flat[name] if name in flat else jnp.zeros(leaf.shape, leaf.dtype))
    return jax.tree_util.tree_unflatten(treedef, out)


def _digest(folder: Path) -> dict[str, str]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != _DIGEST)
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _problem(folder: Path) -> str | None:
    """Why the checkpoint in ``folder`` cannot be used, or None if it is whole."""
    try:
        expected = json.loads((folder / _DIGEST).read_text())
    except (OSError, ValueError):
        return "incomplete (no digest: its write did not finish)"
    found = _digest(folder)
    for name, sha in expected.items():
        if name not in found:
            return f"corrupt ({name} is missing)"
        if found[name] != sha:
            return f"corrupt ({name} does not match its digest)"
    return None


class Checkpoints:
    """The checkpoints of one run directory, ``DIR/checkpoints``.

    Args:
        directory: the run directory.
        keep: how many of the newest checkpoints to keep (older ones are
            deleted only after a newer one is complete).
    """

    def __init__(self, directory: str | os.PathLike, keep: int = 2) -> None:
        import orbax.checkpoint as ocp

        self._ocp = ocp
        self.path = Path(directory).absolute() / "checkpoints"
        self._keep = keep
        self._manager = None
        self._pending: int | None = None  # a step being written in the background

    def _open(self):
        if self._manager is None:
            options = self._ocp.CheckpointManagerOptions(
                max_to_keep=self._keep,
                create=True,
                enable_async_checkpointing=True,
                cleanup_tmp_directories=True,
            )
            self._manager = self._ocp.CheckpointManager(self.path, options=options)
        return self._manager

    def steps(self) -> list[int]:
        """Steps that have a checkpoint folder (whole or not), oldest first."""
        if not self.path.is_dir():
            return []
        return sorted(int(p.name) for p in self.path.iterdir() if p.name.isdigit())

    def save(self, step: int, state: Any, metrics: dict[str, np.ndarray], meta: dict) -> None:
        """Starts writing checkpoint ``step`` and returns; the files are written in
        the background, while training goes on, and the checkpoint counts once
        :meth:`close` (or the next ``save``) has given it its digest.

        The state is copied to host memory first, so the caller may donate or
        overwrite it at once. Raises CheckpointError (one line) if this or the
        previous checkpoint cannot be written.
        """
        self.close()
        ocp = self._ocp
        shapes = {k: [list(np.shape(v)), str(np.asarray(v).dtype)] for k, v in metrics.items()}
        host = {k: np.array(v) for k, v in _flatten(state).items()}
        try:
            self._open().save(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardSave(host),
                    history=ocp.args.StandardSave({k: np.array(v) for k, v in metrics.items()}),
                    meta=ocp.args.JsonSave({**meta, "step": step, "history": shapes}),
                ),
                force=True,
            )
        except Exception as err:  # orbax wraps OS errors in its own types
            self._failed(step, err)
        self._pending = step

    def close(self) -> None:
        """Waits for the checkpoint being written and gives it its digest."""
        step, self._pending = self._pending, None
        if step is None:
            return
        try:
            self._manager.wait_until_finished()
            folder = self.path / str(step)
            tmp = folder / (_DIGEST + ".tmp")
            tmp.write_text(json.dumps(_digest(folder), indent=0))
            os.replace(tmp, folder / _DIGEST)
        except Exception as err:
            self._failed(step, err)

    def _failed(self, step: int, err: Exception):
        for leftover in self.path.glob(f"{step}.orbax-checkpoint-tmp*"):
            shutil.rmtree(leftover, ignore_errors=True)
        self._manager = None
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        reason = reason.splitlines()[0] if reason else type(err).__name__
        raise CheckpointError(
            f"cannot write checkpoint {step} under {self.path}: {reason}"
        ) from None

    def restore(
        self,
        abstract_state: Any,
        step: int | None = None,
        report=sys.stderr,
        move_aside: bool = True,
    ) -> Checkpoint | None:
        """The newest usable checkpoint (or exactly ``step``), or None if there is none.

        Args:
            abstract_state: the state's structure, shapes and dtypes
                (``jax.eval_shape`` of the init function).
            step: a particular checkpoint; CheckpointError if it is unusable.
            report: where to say which checkpoints were skipped.
            move_aside: move unusable checkpoints to ``corrupt-<step>`` (so that
                a resumed run can write that step again); False leaves the run
                directory untouched.
        """
        self.close()
        steps = self.steps()
        if step is not None:
            if step not in steps:
                raise CheckpointError(
                    f"no checkpoint {step} in {self.path}; checkpoints: "
                    f"{', '.join(map(str, steps)) or 'none'}"
                )
            steps = [step]
        for s in reversed(steps):
            folder = self.path / str(s)
            problem = _problem(folder)
            if problem is None:
                try:
                    return self._read(s, abstract_state)
                except Exception as err:  # a digest-clean checkpoint that orbax rejects
                    problem = f"unreadable ({str(err).splitlines()[0] if str(err) else err!r})"
            if step is not None:
                raise CheckpointError(f"checkpoint {s} in {self.path} is {problem}")
            if not move_aside:
                print(f"checkpoint {s} is {problem}; skipped", file=report)
                continue
            aside = self.path / f"corrupt-{s}"
            shutil.rmtree(aside, ignore_errors=True)
            os.replace(folder, aside)
            self._manager = None  # it lists the steps it saw when opened
            print(f"checkpoint {s} is {problem}; moved to {aside}", file=report)
        return None

    def _read(self, step: int, abstract_state: Any) -> Checkpoint:
        ocp = self._ocp
        manager = self._open()
        meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
        abstract_metrics = {
            k: jax.ShapeDtypeStruct(tuple(shape), np.dtype(dtype))
            for k, (shape, dtype) in meta.pop("history").items()
        }
        restored = manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(_flatten(abstract_state)),
                history=ocp.args.StandardRestore(abstract_metrics),
                meta=ocp.args.JsonRestore(),
            ),
        )
        state = _unflatten(abstract_state, dict(restored.state))
        metrics = {k: np.asarray(v) for k, v in dict(restored.history).items()}
        return Checkpoint(step=step, state=state, metrics=metrics, meta=meta)
