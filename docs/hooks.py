"""MkDocs hook: the measured results under benchmarks/results are part of the
site as results/..., so pages show the committed figures without copies."""

from pathlib import Path

from mkdocs.structure.files import File

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"


def on_files(files, config):
    for path in sorted(RESULTS.rglob("*")):
        if path.suffix in (".png", ".json") and path.is_file():
            name = "results/" + path.relative_to(RESULTS).as_posix()
            files.append(File.generated(config, name, abs_src_path=str(path)))
    return files
