"""The commands that use a finished run: eval, plot, resume; their bad input;
and the plain progress lines of a non-terminal."""

import pytest

from jaxmarl_core.cli import main

TINY = ["total_timesteps=2000", "num_logs=2", "checkpoint_every=1", "hidden_size=16"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "idqn"
    assert main(["train", "algo=idqn", "env=climbing", "seeds=2", f"out={out}", *TINY]) == 0
    return out


def test_progress_without_a_terminal_is_plain_lines(finished, capsys):
    # The fixture's run wrote to pytest's captured stderr, which is not a terminal.
    out = finished.parent / "again"
    assert main(["train", "algo=idqn", "env=climbing", f"out={out}", *TINY]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    assert "logging step 2/2:" in err and "env steps/s after compilation" in err


def test_eval_prints_returns_per_seed_and_the_joint_action_table(finished, capsys):
    assert main(["eval", str(finished), "episodes=3", "checkpoint=1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("idqn on climbing: checkpoint 1 (env step 1,000)")
    rows = [line.split() for line in out if line.split() and line.split()[0] in ("0", "1")]
    assert len(rows) >= 2 and all(len(r) == 5 for r in rows[:2])
    assert any("greedy joint actions" in line for line in out)
    assert any(line.startswith("agent 1 \\ agent 2") for line in out)


def test_resume_of_a_finished_run_does_nothing(finished, capsys):
    before = (finished / "metrics.csv").read_bytes()
    assert main(["train", f"resume={finished}"]) == 0
    assert "already finished" in capsys.readouterr().out
    assert (finished / "metrics.csv").read_bytes() == before


def test_plot_writes_a_comparison_figure(finished, tmp_path, capsys):
    out = tmp_path / "compare.png"
    assert main(["plot", str(finished), f"out={out}", "metric=episode_return"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "args,message",
    [
        (["eval", "{tmp}/missing"], "does not exist"),
        (["eval", "{tmp}"], "is not a run directory"),
        (["eval", "{run}", "checkpoint=7"], "no checkpoint 7"),
        (["eval", "{run}", "episodes=0"], "episodes=0 is not allowed"),
        (["eval", "{run}", "render={tmp}/x.gif"], "render= is for grid games"),
        (["eval", "{run}", "colour=red"], "eval does not take colour="),
        (["eval"], "eval needs a run directory"),
        (["train", "resume={run}", "lr=0.5"], "lr=0.5 conflicts with its lr="),
        (["train", "resume={run}", "seeds=5"], "seeds=5 conflicts with its seeds=2"),
        (["train", "resume={tmp}/missing"], "does not exist"),
        (["sweep", "resume={run}"], "is not a sweep directory"),
        (["plot", "{tmp}/missing"], "does not exist"),
        (["sweep", "algo=idqn", "env=climbing", "lr=1e-3,1e-4", "logger=wandb"], "logger= is for"),
        (
            [
                "pbt",
                "algo=idqn",
                "env=climbing",
                "population=2",
                "lr=uniform(0.1,0.2)",
                "logger=tensorboard,marl_eval",
            ],
            "logger= is for train",
        ),
        (["plot", "{run}", "metric=nope"], "nope"),
        (["plot", "{run}", "out={tmp}/compare.jpg"], ".png"),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(finished, tmp_path, capsys, args, message):
    args = [a.format(tmp=tmp_path, run=finished) for a in args]
    assert main(args) != 0
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jaxmarl-core: error:"), captured.err
    assert message in lines[0]
    assert not (tmp_path / "x.gif").exists() and not (tmp_path / "compare.jpg").exists()
