"""The loggers of ``logger=``: each writes what it should, none changes a run's
numbers, and a missing optional package is a one-line error with nothing written."""

import json
import struct
import sys

import numpy as np
import pytest

from jaxmarl_core.cli import main
from jaxmarl_core.config import make_config

TINY = ["total_timesteps=2000", "num_logs=2", "hidden_size=16", "checkpoint_every=0"]


def _train(out, *extra):
    args = ["train", "algo=idqn", "env=climbing", "seeds=2", f"out={out}", *TINY, *extra]
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("runs") / "plain", "absolute_episodes=4")


@pytest.fixture(scope="module")
def every_logger(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "every"
    return _train(out, "absolute_episodes=4", "logger=tensorboard,wandb,marl_eval")


def test_no_logger_changes_the_numbers(plain, every_logger):
    assert (plain / "metrics.csv").read_bytes() == (every_logger / "metrics.csv").read_bytes()


def test_tensorboard_writes_every_metric_at_every_logging_step(every_logger):
    events = list((every_logger / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
    scalars: dict[str, list[int]] = {}
    for event in _read_events(events[0]):
        for value in event.summary.value:
            scalars.setdefault(value.tag, []).append(event.step)
    assert {"eval_return", "episode_return", "loss", "eval_return/seed_0"} <= set(scalars)
    assert scalars["eval_return"] == [1000, 2000]
    assert scalars["eval_return/seed_1"] == [1000, 2000]


def _read_events(path):
    """The Event protos of a TensorBoard file (TFRecord framing: length, its CRC,
    the record, its CRC)."""
    from tensorboardX.proto.event_pb2 import Event

    data = path.read_bytes()
    pos = 0
    while pos < len(data):
        (length,) = struct.unpack("<Q", data[pos : pos + 8])
        event = Event()
        event.ParseFromString(data[pos + 12 : pos + 12 + length])
        yield event
        pos += 12 + length + 4


def test_wandb_writes_one_offline_run_per_seed(every_logger):
    runs = sorted((every_logger / "wandb").glob("offline-run-*"))
    assert len(runs) == 2
    for run in runs:
        (log,) = run.glob("run-*.wandb")
        data = log.read_bytes()
        # The run's protobuf log holds the metric names and the group, name and tags.
        for text in (b"eval_return", b"episode_return", b"idqn", b"climbing", b"every-seed"):
            assert text in data, (run, text)
    names = {b"every-seed0", b"every-seed1"}
    found = {n for n in names for r in runs if n in next(r.glob("run-*.wandb")).read_bytes()}
    assert found == names


def test_marl_eval_json_follows_the_schema_field_by_field(every_logger):
    data = json.loads((every_logger / "marl_eval.json").read_text())
    csv = np.genfromtxt(every_logger / "metrics.csv", delimiter=",", names=True)
    summary = json.loads((every_logger / "summary.json").read_text())
    assert list(data) == ["matrix"] and list(data["matrix"]) == ["climbing"]
    runs = data["matrix"]["climbing"]["idqn"]
    assert list(runs) == ["seed_0", "seed_1"]
    for seed, run in enumerate(runs.values()):
        assert list(run) == ["step_0", "step_1", "absolute_metrics"]
        rows = csv[csv["seed"] == seed]
        for k in range(2):
            step = run[f"step_{k}"]
            assert list(step) == ["step_count", "elapsed_time", "return"]
            assert step["step_count"] == int(rows["env_steps"][k])
            assert step["return"] == pytest.approx([rows["eval_return"][k]], rel=1e-5)
        assert run["step_0"]["elapsed_time"] == 0.0 <= run["step_1"]["elapsed_time"]
        absolute = summary["absolute_return_per_seed"][seed]
        assert run["absolute_metrics"] == {"return": [pytest.approx(absolute)]}


def test_a_bad_logger_name_says_what_is_allowed():
    with pytest.raises(ValueError, match="comma-separated set of .*'marl_eval'"):
        make_config("idqn", env="climbing", logger="csv,mlflow")
    config = make_config("idqn", env="climbing", logger="marl_eval, tensorboard")
    assert config.logger == "csv,tensorboard,marl_eval"


def test_a_missing_package_is_one_line_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb raises ImportError
    out = tmp_path / "run"
    assert main(["train", "algo=idqn", "env=climbing", f"out={out}", "logger=wandb", *TINY]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "logger=wandb needs wandb: pip install" in err[0]
    assert not out.exists()
