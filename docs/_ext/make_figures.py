"""Make the benchmark page's figures (docs/images/*.png) from a small benchmark run.

    .venv/bin/python docs/_ext/make_figures.py [--work DIR] [--n-per-class N]

Simulates the paper's data (seed 0, ``--n-per-class`` sequences per class, default 250: 100 test
sequences), runs ``deeplift-genomics benchmark`` on it with the stored test model
(``tests/data/benchmark_default_model``, trained by ``simulate --seed 0`` + ``train --seed 0``) and every
default method, and copies a few of its figures into ``docs/images/``, shrunk and palette-quantised so
each stays well under 200 kB. A few minutes on 2 CPU cores; the docs build itself never runs it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "docs" / "images"
MODEL = REPO / "tests" / "data" / "benchmark_default_model"
# benchmark output -> docs image name
FIGURES = {
    "figures/fig5_TAL1.png": "fig5_TAL1.png",
    "figures/auroc_bars.png": "auroc_bars.png",
    "logos/task_0_motif_logos.png": "task_0_motif_logos.png",
}
MAX_WIDTH = 1000


def shrink(src: Path, dst: Path, max_width: int = MAX_WIDTH, colors: int = 64) -> None:
    """Copy a PNG, at most ``max_width`` pixels wide and with a ``colors``-entry palette."""
    from PIL import Image

    with Image.open(src) as im:
        im = im.convert("RGB")
        if im.width > max_width:
            im = im.resize((max_width, round(im.height * max_width / im.width)), Image.LANCZOS)
        im.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(dst, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", help="working directory (default: a temporary one)")
    parser.add_argument("--n-per-class", type=int, default=250)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from deeplift_genomics.cli import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        data, bench = work / "data", work / "bench"
        if not (data / "sequences.fa").exists():
            assert cli(["simulate", "--out", str(data), "--seed", "0", "--n-per-class", str(args.n_per_class)]) == 0
        if not (bench / "fig5b.tsv").exists():
            assert cli(["benchmark", "--data", str(data), "--model", str(MODEL), "--out", str(bench)]) == 0
        IMAGES.mkdir(parents=True, exist_ok=True)
        for src, name in FIGURES.items():
            shrink(bench / src, IMAGES / name)
            print(f"{IMAGES / name}: {(IMAGES / name).stat().st_size // 1024} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
