"""Many hosts on one machine: two processes joined by jax.distributed (gloo on
CPU) run the same sweep as one process; a process that dies stops the other and
leaves the directory marked incomplete; too many host devices for the cores
are capped instead of deadlocking."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from jaxmarl_core.cli import main

SMALL = [
    "algo=idqn",
    "env=penalty-0",
    "seeds=2",
    "lr=1e-3,1e-2",
    "total_timesteps=2000",
    "num_logs=4",
    "num_envs=4",
    "learning_starts=200",
    "batch_size=32",
    "buffer_size=1000",
    "hidden_size=16",
    "num_eval_episodes=2",
]
CLI = "import sys; from jaxmarl_core.cli import main; sys.exit(main(sys.argv[1:]))"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_hosts(
    args: list[list[str]],
    heartbeat: int = 60,
    devices=(1, 1),
    one_core: bool = False,
    command: str = "sweep",
) -> list[subprocess.Popen]:
    """Process i runs ``jaxmarl-core <command> *args[i]`` with ``devices[i]`` CPU
    devices (pinned to core 0 with ``one_core``), joined through a coordinator
    on localhost."""
    port = _free_port()
    procs = []
    for pid, (argv, count) in enumerate(zip(args, devices, strict=True)):
        env = {
            **os.environ,
            "JAX_PLATFORMS": "cpu",
            "XLA_FLAGS": f"--xla_force_host_platform_device_count={count}",
            "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
            "JAX_NUM_PROCESSES": str(len(args)),
            "JAX_PROCESS_ID": str(pid),
            "JAXMARL_CORE_HEARTBEAT_SECONDS": str(heartbeat),
        }
        pin = ["taskset", "-c", "0"] if one_core else []
        procs.append(
            subprocess.Popen(
                [*pin, sys.executable, "-c", CLI, command, *argv],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    return procs


def _finish(procs, timeout: float) -> list[tuple[int, str]]:
    done = []
    try:
        for p in procs:
            _, err = p.communicate(timeout=timeout)
            done.append((p.returncode, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return done


def _csv(path) -> tuple[list[str], np.ndarray]:
    lines = path.read_text().splitlines()
    return lines[0].split(","), np.array([[float(x) for x in r.split(",")] for r in lines[1:]])


@pytest.mark.slow
def test_two_processes_sweep_equals_one_process(tmp_path, capsys):
    """Runs (setting, seed) sharded over two processes, one CPU device each,
    give the one-process sweep's results; process 1 writes nothing."""
    two, elsewhere = tmp_path / "two", tmp_path / "process-1"
    t0 = time.perf_counter()
    (rc0, err0), (rc1, err1) = _finish(
        _start_hosts([[*SMALL, f"out={two}"], [*SMALL, f"out={elsewhere}"]]), timeout=300
    )
    two_seconds = time.perf_counter() - t0
    assert rc0 == 0, err0[-3000:]
    assert rc1 == 0, err1[-3000:]
    assert "process 1: sweep done; process 0 writes" in err1
    assert not elsewhere.exists()  # process 1 wrote nothing, not even its own out=
    assert json.loads((two / "sweep.json").read_text())["num_devices"] == 2
    assert not (two / "INCOMPLETE").exists()

    one = tmp_path / "one"
    assert main(["sweep", *SMALL, f"out={one}"]) == 0
    capsys.readouterr()
    for name in ("sweep.csv", "sweep_summary.csv"):
        (cols_two, two_rows), (cols_one, one_rows) = _csv(two / name), _csv(one / name)
        assert cols_two == cols_one
        np.testing.assert_allclose(two_rows, one_rows, rtol=1e-5, err_msg=name)
    assert (two / "best_config.yaml").read_text() == (one / "best_config.yaml").read_text()
    print(f"two processes: {two_seconds:.1f} s")


TABLE = ["matrix", "algos=vdn", "seeds=2", "budget=0.02"]


@pytest.mark.slow
def test_two_processes_table_equals_one_process_and_skips_the_same_cells(tmp_path, capsys):
    """The matrix table (VDN, 8 games x 2 seeds in one program) sharded over two
    processes gives the one-process table; a re-run over two processes, with
    one cell's summary removed, trains that cell alone on both (process 0
    decides which cells are finished) and gives the same table."""
    two, elsewhere = tmp_path / "two", tmp_path / "process-1"

    def both() -> None:
        procs = _start_hosts(
            [[*TABLE, f"out={two}"], [*TABLE, f"out={elsewhere}"]], command="table"
        )
        for rc, err in _finish(procs, timeout=300):
            assert rc == 0, err[-3000:]

    both()
    assert not elsewhere.exists()
    one = tmp_path / "one"
    assert main(["table", *TABLE, f"out={one}"]) == 0
    capsys.readouterr()
    (cols_two, rows_two), (cols_one, rows_one) = (
        _csv_columns(two / "table.csv"),
        _csv_columns(one / "table.csv"),
    )
    assert cols_two == cols_one and rows_two == rows_one

    (two / "runs" / "vdn" / "penalty-25" / "summary.json").unlink()
    both()
    report = json.loads((two / "table.json").read_text())
    assert [p["games"] for p in report["programs"]] == [["penalty-25"]]
    assert len(report["skipped_cells"]) == 7
    assert _csv_columns(two / "table.csv") == (cols_one, rows_one)


def _csv_columns(path) -> tuple[list[str], list[str]]:
    lines = path.read_text().splitlines()
    return lines[0].split(","), lines[1:]


@pytest.mark.slow
def test_a_dead_process_stops_the_other_and_leaves_the_sweep_incomplete(tmp_path):
    """SIGKILL to process 1 in the middle of a sweep: process 0 stops within the
    heartbeat timeout with an error naming task 1, and the directory holds no
    results, only its plan and the INCOMPLETE mark."""
    args = [*SMALL[:-8], "total_timesteps=400000", "num_logs=40", *SMALL[-6:]]
    out = tmp_path / "sweep"
    p0, p1 = _start_hosts(
        [[*args, f"out={out}"], [*args, f"out={tmp_path / 'process-1'}"]], heartbeat=10
    )
    try:
        deadline = time.monotonic() + 240
        # Past compilation: process 0 has recorded the batch layout.
        while not (out / "batches" / "layout.json").exists() and time.monotonic() < deadline:
            assert p0.poll() is None and p1.poll() is None, p0.communicate()[1][-3000:]
            time.sleep(0.2)
        time.sleep(3)
        assert p1.poll() is None, "process 1 finished before it could be killed"
        p1.send_signal(signal.SIGKILL)
        t_kill = time.monotonic()
        _, err0 = p0.communicate(timeout=120)
        stopped_after = time.monotonic() - t_kill
    finally:
        for p in (p0, p1):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert p0.returncode != 0
    assert "tasks are unhealthy (stopped sending heartbeats)" in err0, err0[-3000:]
    assert stopped_after < 60
    assert (out / "INCOMPLETE").exists()
    assert not (out / "sweep.json").exists() and not (out / "sweep.csv").exists()
    assert not list((out / "batches").glob("*.npz"))
    print(f"process 0 stopped {stopped_after:.1f} s after process 1 was killed")


QMIX_LBF = [
    "algo=qmix",
    "env=lbf-8x8-2p-2f-coop",
    "seeds=4",
    "lr=1e-3,1e-2",
    "total_timesteps=2000",
    "num_logs=2",
    "num_envs=4",
    "hidden_size=16",
    "num_eval_episodes=1",
    "learning_starts=200",
    "batch_size=8",
    "buffer_size=500",
]


@pytest.mark.skipif(shutil.which("taskset") is None, reason="needs taskset")
@pytest.mark.parametrize(
    "args",
    [
        pytest.param(SMALL, id="idqn-penalty"),
        # Sharded over all 4 devices on one core this sweep hangs (with the
        # package's XLA flags; without them XLA aborts after 40 s at an all-gather
        # that 3 of 4 device threads reached).
        pytest.param(QMIX_LBF, id="qmix-lbf", marks=pytest.mark.slow),
    ],
)
def test_more_host_devices_than_cores_are_capped_not_deadlocked(tmp_path, args):
    """4 host devices pinned to one core: the sweep warns in one line, shards over
    one device and finishes."""
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
    }
    env.pop("JAX_COORDINATOR_ADDRESS", None)
    out = tmp_path / "sweep"
    cmd = ["taskset", "-c", "0", sys.executable, "-c", CLI, "sweep", *args, f"out={out}"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert warnings == [
        "jaxmarl-core: warning: 4 CPU devices but this process may use 1 core(s); "
        "sharding over 1 device(s), since more can deadlock XLA:CPU"
    ]
    assert json.loads((out / "sweep.json").read_text())["num_devices"] == 1


@pytest.mark.skipif(shutil.which("taskset") is None, reason="needs taskset")
def test_too_many_devices_in_one_process_stops_every_process_with_one_line(tmp_path):
    """Across processes the device cap is refused instead (the processes must
    shard over the same devices): process 1 has 2 devices on one core, and both
    processes exit with status 2 and the same one-line error, writing nothing."""
    args = [[*SMALL, f"out={tmp_path / str(pid)}"] for pid in range(2)]
    procs = _start_hosts(args, devices=(1, 2), one_core=True)
    message = (
        "jaxmarl-core: error: process 1 has 2 CPU devices but may use 1 core(s), which can "
        "deadlock XLA:CPU; give each process at most as many devices "
        "(--xla_force_host_platform_device_count) as cores"
    )
    for rc, err in _finish(procs, timeout=120):
        assert rc == 2, err[-3000:]
        assert [line for line in err.splitlines() if "error" in line] == [message], err[-3000:]
    assert not (tmp_path / "1").exists()
    # Process 0 had made its directory before the devices were checked; it is
    # marked incomplete, with no results.
    assert (tmp_path / "0" / "INCOMPLETE").exists() and not (tmp_path / "0" / "sweep.json").exists()


@pytest.mark.slow
def test_a_process_that_fails_alone_does_not_hang_the_others(tmp_path):
    """Process 1 has a bad value and stops with its one line at once; process 0,
    waiting for it, is stopped by the coordinator within the heartbeat timeout
    (not JAX's 5-minute shutdown barrier), naming task 1."""
    bad = [a if not a.startswith("lr=") else "lr=-1,1" for a in SMALL]
    t0 = time.monotonic()
    args = [[*SMALL, f"out={tmp_path / '0'}"], [*bad, f"out={tmp_path / '1'}"]]
    procs = _start_hosts(args, heartbeat=10)
    (rc0, err0), (rc1, err1) = _finish(procs, timeout=120)
    seconds = time.monotonic() - t0
    lines = err1.strip().splitlines()
    assert rc1 == 2 and len(lines) == 1, err1[-3000:]
    assert lines[0].startswith("jaxmarl-core: error: lr=-1.0 is not allowed"), lines
    assert rc0 != 0 and "tasks are unhealthy (stopped sending heartbeats)" in err0, err0[-3000:]
    assert seconds < 90
    assert not (tmp_path / "0" / "sweep.json").exists()
    print(f"both stopped {seconds:.1f} s after starting")
