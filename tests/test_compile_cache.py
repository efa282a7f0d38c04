"""The command line's persistent compilation cache: where it lies, how it is turned
off, and that a run loaded from it gives the same numbers."""

import os
import subprocess
import sys
from pathlib import Path

from jaxmarl_core.cli import compile_cache_dir


def test_the_cache_directory_by_setting_and_environment(monkeypatch, tmp_path):
    for name in ("JAXMARL_CORE_COMPILE_CACHE", "JAX_COMPILATION_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    assert compile_cache_dir(None) == Path.home() / ".cache" / "jaxmarl_core" / "xla"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compile_cache_dir(None) == tmp_path / "jaxmarl_core" / "xla"
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "jax"))
    assert compile_cache_dir(None) == tmp_path / "jax"
    assert compile_cache_dir(str(tmp_path / "mine")) == tmp_path / "mine"
    for off in ("false", "0", "off"):
        assert compile_cache_dir(off) is None
        monkeypatch.setenv("JAXMARL_CORE_COMPILE_CACHE", off)
        assert compile_cache_dir(None) is None
    assert compile_cache_dir(str(tmp_path / "mine")) == tmp_path / "mine"  # the option wins


def _train(out: Path, cache: str) -> None:
    args = ["train", "algo=pqn_vdn", "env=climbing", "total_timesteps=4096", "num_logs=4"]
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    code = "import sys; from jaxmarl_core.cli import main; sys.exit(main(sys.argv[1:]))"
    command = [sys.executable, "-c", code, *args, f"out={out}", f"compile_cache={cache}"]
    subprocess.run(command, check=True, capture_output=True, env=env)


def test_a_run_loaded_from_the_cache_gives_the_same_metrics(tmp_path):
    cache = tmp_path / "cache"
    _train(tmp_path / "first", str(cache))
    stored = sorted(p.name for p in cache.iterdir())
    assert any(name.startswith("jit_chunk") for name in stored), stored
    _train(tmp_path / "again", str(cache))  # loads the compiled chunk
    assert sorted(p.name for p in cache.iterdir()) == stored  # nothing new was compiled
    # The first run compiled every program itself (its cache was empty).
    metrics = [(tmp_path / d / "metrics.csv").read_bytes() for d in ("first", "again")]
    assert metrics[0] == metrics[1]
