"""Small genomes, VCFs and a model for the variants tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

LENGTH = 24
HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def random_genome(seed: int = 0, lengths=(200, 150, 20)) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    return {f"chr{i + 1}": "".join(rng.choice(list("ACGT"), size=n)) for i, n in enumerate(lengths)}


def write_vcf(path: Path, lines: list[str], header: str = HEADER) -> Path:
    path.write_text(header + "".join(line + "\n" for line in lines))
    return path


def snv_line(chrom: str, pos0: int, ref: str, alt: str, vid: str = ".", info: str = ".") -> str:
    return f"{chrom}\t{pos0 + 1}\t{vid}\t{ref}\t{alt}\t.\tPASS\t{info}"


def small_model(n_tasks: int = 2, length: int = LENGTH, seed: int = 3):
    import torch

    from deeplift_genomics.models.spec import ConvLayerSpec, ModelSpec, build_model

    torch.manual_seed(seed)
    spec = ModelSpec(input_length=length, n_tasks=n_tasks, conv=(ConvLayerSpec(6, 5),), dense=(8,), dropout=0.0)
    return build_model(spec).eval(), spec


def saved_small_model(out):
    """:func:`small_model` with 2 tasks (``t0``, ``t1``) saved as a model directory ``out``."""
    from deeplift_genomics.models.files import save_model

    model, spec = small_model(n_tasks=2)
    save_model(model, out, spec=spec, task_names=["t0", "t1"])
    return out
