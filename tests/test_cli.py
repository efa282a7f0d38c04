"""The command line: listing, training into a run directory, one-line errors."""

import json
import os
import subprocess
import sys

import pytest

from jaxmarl_core.cli import main, parse_value


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "jaxmarl_core.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )


def test_parse_value():
    assert parse_value("3") == 3 and parse_value("3e-4") == pytest.approx(3e-4)
    assert parse_value("true") is True and parse_value("climbing") == "climbing"


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "idqn" in out and "climbing" in out and "lbf-8x8-2p-2f-coop" in out
    from jaxmarl_core.envs.registry import FAMILIES

    for family in FAMILIES:  # every family with the form of its names and its examples
        line = next(line for line in out.splitlines() if line.split()[:1] == [family.name])
        assert line.endswith(family.grammar)
        assert all(example in out for example in family.examples)


def test_train_writes_run_dir(tmp_path):
    out = tmp_path / "run"
    proc = run_cli(
        "train",
        "algo=idqn",
        "env=penalty-0",
        "seeds=2",
        f"out={out}",
        "total_timesteps=2000",
        "num_logs=2",
        "learning_starts=200",
        "batch_size=32",
        "hidden_size=16",
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["algo"] == "idqn" and summary["seeds"] == 2 and summary["env"] == "penalty-0"


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "algo=nope", "env=climbing"], "unknown algorithm 'nope'"),
        (["train", "algo=idqn", "env=nope"], "unknown environment 'nope'"),
        (["train", "algo=idqn", "env=lbf-8x8-0p-2f"], "lbf-8x8-0p-2f"),
        (["train", "algo=idqn", "env=climbing", "lr=-0.1"], "lr=-0.1 is not allowed"),
        (["train", "algo=idqn", "env=climbing", "gamma=1.5"], "gamma=1.5 is not allowed"),
        (["train", "algo=idqn", "env=climbing", "seeds=2.5"], "seeds=2.5 is not allowed"),
        (["train", "algo=idqn", "env=climbing", "out=/proc/nope/run"], "cannot be written"),
        (["train", "algo=idqn"], "train needs env="),
        (["train", "algo=idqn", "env=climbing", "oops"], "expected key=value"),
        (["frobnicate"], "unknown command"),
    ],
)
def test_bad_input_is_one_line_without_traceback(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "runs").exists()  # nothing partial written


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "algo=idqn", "env=lbf-8x8-0p-2f"], "lbf-8x8-0p-2f"),
        (["train", "algo=idqn", "env=climbing", "out=/proc/nope/run"], "cannot be written"),
    ],
)
def test_process_exits_2_with_one_line(args, message, tmp_path):
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
