"""The documentation's snippets stay true: every ``console`` block's
``$ jaxmarl-core ...`` lines and every ``python`` block of a page run, in order,
in a fresh directory (a page's python blocks share one namespace, as a
notebook's cells do), with the training budgets cut to two updates (two seeds
at most) so that the whole site's snippets run in minutes. Marked ``docs``: run
with ``pytest -m docs`` (CI does, after building the site with ``mkdocs build
--strict``)."""

import re
import shlex
from pathlib import Path

import pytest

from jaxmarl_core.cli import main

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
BLOCK = re.compile(r"^```(console|python)\n(.*?)^```", re.S | re.M)

pytestmark = pytest.mark.docs


def _snippets(page: str) -> list[tuple[str, str]]:
    """(kind, text) of the page's runnable snippets, in page order: one per
    command of a console block, one per python block."""
    out = []
    for kind, body in BLOCK.findall((DOCS / page).read_text()):
        if kind == "python":
            out.append(("python", body))
        else:
            out += [("command", line[2:]) for line in body.splitlines() if line.startswith("$ ")]
    return out


def _shortened(args: list[str]) -> list[str]:
    """A train/sweep/pbt command with two updates per run and two seeds at most."""
    from jaxmarl_core.cli import parse_value
    from jaxmarl_core.config import make_config
    from jaxmarl_core.train import make_algorithm

    command = args[0]
    if command not in ("train", "sweep", "pbt") or any(a.startswith("resume=") for a in args):
        return args
    pairs = dict(a.split("=", 1) for a in args[1:])
    pairs["seeds"] = str(min(int(pairs.get("seeds", 1)), 2))
    if "samples" in pairs:
        pairs["samples"] = str(min(int(pairs["samples"]), 2))
    fixed = {
        k: parse_value(v)
        for k, v in pairs.items()
        if k not in ("algo", "env", "seeds", "out", "samples", "population", "ready_every")
        and "," not in v
        and "uniform(" not in v
    }
    fixed.pop("total_timesteps", None)
    config = make_config(pairs["algo"], env=pairs["env"], **fixed)
    _, algo = make_algorithm(config)
    pairs["total_timesteps"] = str(2 * algo.steps_per_update)
    pairs["num_logs"] = "2"
    if "ready_every" in pairs:
        pairs["ready_every"] = "1"
    return [command] + [f"{k}={v}" for k, v in pairs.items()]


def test_every_page_is_checked():
    assert {"getting-started.md", "concepts.md", "how-to/python-api.md"} <= set(PAGES)
    assert sum(len(_snippets(p)) for p in PAGES) >= 20


@pytest.mark.parametrize("page", [p for p in PAGES if _snippets(p)])
def test_snippets_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "docs"}
    for kind, text in _snippets(page):
        if kind == "python":
            exec(compile(text, f"{page} (python block)", "exec"), namespace)
            continue
        words = shlex.split(text)
        assert words[0] == "jaxmarl-core", text
        assert main(_shortened(words[1:])) == 0, text
