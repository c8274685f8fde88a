# Shared names and helpers of the workflow: output layout, the dataset and model inputs, and turning config
# values into the CLI's explicit flags (so every shell command printed by `snakemake -p` runs by hand).

import copy
import json
import re
import shlex

from snakemake.exceptions import WorkflowError

from deeplift_genomics.benchmark.methods import method_label as package_method_label
from deeplift_genomics.cli.attribute import SETTINGS as ATTRIBUTE_SETTINGS
from deeplift_genomics.cli.benchmark import SETTINGS as BENCHMARK_SETTINGS
from deeplift_genomics.cli.dataset import SETTINGS as DATASET_SETTINGS
from deeplift_genomics.cli.motifs import SETTINGS as MOTIFS_SETTINGS
from deeplift_genomics.cli.score import SETTINGS as SCORE_SETTINGS
from deeplift_genomics.cli.settings import workflow_flags
from deeplift_genomics.cli.simulate import SETTINGS as SIMULATE_SETTINGS
from deeplift_genomics.cli.train import SETTINGS as TRAIN_SETTINGS
from deeplift_genomics.cli.variants import SETTINGS as VARIANTS_SETTINGS

OUT = config["outdir"].rstrip("/")
LOGS = f"{OUT}/logs"
BENCH = f"{OUT}/benchmarks"
DEVICE = config["device"]


def cli_flags(**values):
    """`--long-name value` for each value that is not None; lists give one argument per item, True a bare flag."""
    parts = []
    for key, value in values.items():
        if value is None or value is False:
            continue
        flag = f"--{key.replace('_', '-')}"
        if value is True:
            parts.append(flag)
        elif isinstance(value, (list, tuple)):
            parts.append(" ".join([flag, *(shlex.quote(str(item)) for item in value)]))
        else:
            parts.append(f"{flag} {shlex.quote(str(value))}")
    return " ".join(parts)


# ----------------------------------------------------------------------------------------------- dataset
# One of three sources: your own peaks on a genome (data.peaks), an existing dataset (data.simdata), or the
# simulation (neither).
PEAKS = config["data"]["peaks"]
SIMULATED = config["data"]["simdata"] is None and PEAKS is None
SIM_DIR = f"{OUT}/data"
SIM_FILES = {
    "fasta": f"{SIM_DIR}/sequences.fa",
    "labels": f"{SIM_DIR}/labels.tsv",
    "embeddings": f"{SIM_DIR}/embeddings.tsv",
    "simdata": f"{SIM_DIR}/sequences.simdata.gz",
    "vcf": f"{SIM_DIR}/variants.vcf.gz",
}
PEAKS_DIR = f"{OUT}/dataset"
PEAKS_FILES = {
    "fasta": f"{PEAKS_DIR}/sequences.fa",
    "labels": f"{PEAKS_DIR}/labels.tsv",
    "windows": f"{PEAKS_DIR}/windows.bed",
    "test_windows": f"{PEAKS_DIR}/test_windows.bed",
    "meta": f"{PEAKS_DIR}/dataset.json",
}
if PEAKS is not None:
    if config["data"]["simdata"] is not None or config["data"]["test_ids"] is not None:
        raise WorkflowError(
            "config: data.peaks replaces data.simdata and data.test_ids; give one source of data"
        )
    DATA_INPUT = list(PEAKS_FILES.values())
    DATA_FLAGS = cli_flags(data=PEAKS_DIR)
elif SIMULATED:
    if config["data"]["test_ids"] is not None:
        raise WorkflowError(
            "config: data.test_ids needs data.simdata (a simulated dataset carries its own split)"
        )
    DATA_INPUT = list(SIM_FILES.values())
    DATA_FLAGS = cli_flags(data=SIM_DIR)
else:
    DATA_INPUT = [path for path in (config["data"]["simdata"], config["data"]["test_ids"]) if path]
    DATA_FLAGS = cli_flags(data=config["data"]["simdata"], test_ids=config["data"]["test_ids"])

# ------------------------------------------------------------------------------------------------ models
# name -> directory: one trained model per seed (models/seed<N>), or the existing model.dir as `given`.
TRAINED = config["model"]["dir"] is None
if TRAINED:
    MODELS = {f"seed{seed}": f"{OUT}/models/seed{seed}" for seed in config["model"]["train"]["seeds"]}
else:
    MODELS = {"given": config["model"]["dir"].rstrip("/")}


# Models of other architectures (config model.extra), trained on the same data; the benchmark reports each
# apart from the first model's architecture (its seeds are pooled, these are not).
EXTRA = {}
for _entry in config["model"].get("extra") or []:
    _name = _entry["name"]
    if _name in EXTRA or _name in MODELS or re.fullmatch(r"seed\d+|given", _name):
        raise WorkflowError(
            f"config: model.extra: the name {_name!r} is taken (by another entry, or seed<N>/given of model.train)"
        )
    EXTRA[_name] = _entry
MODELS.update({name: f"{OUT}/models/{name}" for name in EXTRA})


def model_files(name):
    """The files of one model directory, as named inputs."""
    return {"model": f"{MODELS[name]}/model.json", "weights": f"{MODELS[name]}/model.safetensors"}


# ----------------------------------------------------------------------------------------------- methods
def method_label(spec):
    """The benchmark's machine name of a method setting: the package's label, so files and tables agree."""
    return package_method_label(
        spec["method"], spec.get("rule"), spec.get("references"), spec.get("n_references")
    )


METHODS = {}
for _spec in config["attribute"]["methods"]:
    _name = _spec.get("name") or method_label(_spec)
    if _name in METHODS:
        raise WorkflowError(
            f"config: attribute.methods: two settings are named {_name!r}; give one a `name:`"
        )
    METHODS[_name] = _spec


def method_flags_of(spec):
    """Flags of one method setting; only those that apply to it, so the shell command stays readable."""
    method = spec["method"]
    # A dict, not keywords: `rule` is a keyword of the Snakefile grammar.
    return cli_flags(
        **{
            "method": method,
            "rule": spec["rule"] if method == "deeplift" else None,
            "references": None if method == "ism" else spec["references"],
            "n_references": (
                spec["n_references"] if method != "ism" and spec["references"] == "shuffle" else None
            ),
            "n_steps": spec["n_steps"] if method == "integrated_gradients" else None,
        }
    )


def method_flags(name):
    """Flags of the method setting called ``name`` in config attribute.methods."""
    return method_flags_of(METHODS[name])


def model_methods(model):
    """The method settings attributed on ``model``: all of attribute.methods, or an extra model's own subset."""
    chosen = EXTRA[model].get("methods") if model in EXTRA else None
    if not chosen:
        return list(METHODS)
    unknown = [name for name in chosen if name not in METHODS]
    if unknown:
        raise WorkflowError(
            f"config: model.extra {model!r}: methods {unknown} are not labels of attribute.methods "
            f"({', '.join(METHODS)})"
        )
    return list(chosen)


ATTRIBUTIONS = [
    f"{OUT}/attributions/{model}/{method}.npz" for model in MODELS for method in model_methods(model)
]
# The benchmark compares on exactly the sequences that were attributed: both rules take split,
# max_sequences and seed from attribute: (their SETTINGS say so).


def train_flags():
    """Flags of `train` from config model.train and device (declared in its SETTINGS; the seed is the
    rule's wildcard)."""
    return workflow_flags(TRAIN_SETTINGS, config)


def extra_train_flags(name):
    """Flags of `train` for the model.extra entry ``name``: model.train's, with the entry's architecture,
    seed and own `train:` keys winning."""
    entry = EXTRA[name]
    merged = copy.deepcopy(config)
    train = merged["model"]["train"]
    train.update(entry.get("train") or {})
    train["architecture"] = entry["architecture"]
    seed = entry.get("seed")
    seed = config["model"]["train"]["seeds"][0] if seed is None else seed
    return f"--seed {int(seed)} {workflow_flags(TRAIN_SETTINGS, merged)}"


# --------------------------------------------------------------------------------------------- FASTA files
FASTAS = {}
for _entry in config["score"]["fasta"]:
    if PEAKS is not None and _entry["name"] == "simulated":
        continue  # the default config's entry scores the simulation, which data.peaks replaces
    if _entry["name"] in FASTAS:
        raise WorkflowError(f"config: score.fasta: two files are named {_entry['name']!r}")
    FASTAS[_entry["name"]] = _entry
if PEAKS is not None:
    # The held-out windows, read from the genome itself, so scores and tracks are in genome coordinates.
    if "test_windows" in FASTAS:
        raise WorkflowError(
            "config: score.fasta: the name 'test_windows' is taken by data.peaks' test windows"
        )
    FASTAS["test_windows"] = {
        "name": "test_windows",
        "path": PEAKS["genome"],
        "bed": PEAKS_FILES["test_windows"],
    }


SCORE_MODEL = next(iter(MODELS))
SCORE_OUTPUTS = [f"{OUT}/score/{name}" for name in FASTAS]
MOTIF_OUTPUTS = [f"{OUT}/motifs/{name}" for name in FASTAS]
# `all`: the simulated benchmark and its report, or for data.peaks the models and the scored test windows.
if PEAKS is not None:
    ALL_TARGETS = [f"{path}/metrics.json" for path in MODELS.values()] + SCORE_OUTPUTS
else:
    ALL_TARGETS = [f"{OUT}/benchmark", f"{OUT}/report"]
# `all` makes the motifs of every scored FASTA, except the simulated one when the dataset is not simulated
# (scoring it would simulate data the run does not use); `snakemake motifs` still asks for every one.
ALL_MOTIF_OUTPUTS = [
    f"{OUT}/motifs/{name}"
    for name, entry in FASTAS.items()
    if SIMULATED or entry["path"] != SIM_FILES["fasta"]
]
# The benchmark's attributions exist only when there is a benchmark (not for data.peaks).
_motif_method = config["motifs"]["benchmark_method"] if PEAKS is None else None
if _motif_method is not None and _motif_method not in METHODS:
    raise WorkflowError(
        f"config: motifs.benchmark_method {_motif_method!r} is not a method of attribute.methods "
        f"({', '.join(METHODS)})"
    )
MOTIF_BENCHMARK_ATTRIBUTIONS = (
    [f"{OUT}/attributions/{next(iter(MODELS))}/{_motif_method}.npz"] if _motif_method is not None else []
)
MOTIF_BENCHMARK_OUTPUTS = [f"{OUT}/motifs/benchmark"] if _motif_method is not None else []


def score_inputs(wildcards):
    entry = FASTAS[wildcards.fasta]
    inputs = {"fasta": entry["path"], **model_files(SCORE_MODEL)}
    if entry["bed"]:
        inputs["bed"] = entry["bed"]
    return inputs


def score_flags():
    """Flags of the attribution and the sequence handling of `score` (declared in its SETTINGS; the tracks
    are the gather's business)."""
    return workflow_flags(SCORE_SETTINGS, config)


# ----------------------------------------------------------------------------------------------- VCF files
VCFS = {}
for _entry in config["variants"]["vcf"]:
    if _entry["name"] in VCFS:
        raise WorkflowError(f"config: variants.vcf: two files are named {_entry['name']!r}")
    VCFS[_entry["name"]] = _entry

VARIANT_OUTPUTS = [f"{OUT}/variants/{name}" for name in VCFS]
# `all` scores the VCFs it can make or find: with an existing dataset (data.simdata) there is no simulated VCF.
ALL_VARIANT_OUTPUTS = [
    f"{OUT}/variants/{name}"
    for name, entry in VCFS.items()
    if SIMULATED or not any(entry[key].startswith(f"{SIM_DIR}/") for key in ("vcf", "fasta"))
]


def variants_inputs(wildcards):
    entry = VCFS[wildcards.vcf]
    exclude = config["variants"].get("null_exclude")
    return {
        "vcf": entry["vcf"],
        "fasta": entry["fasta"],
        **model_files(SCORE_MODEL),
        **({"null_exclude": exclude} if exclude else {}),
    }


def variants_flags():
    """Every setting of `variants` but the inputs, the output and the shard (declared in its SETTINGS)."""
    return workflow_flags(VARIANTS_SETTINGS, config)


def _alternatives(names):
    return "|".join(re.escape(name) for name in names) if names else "(?!x)x"


wildcard_constraints:
    method=_alternatives(METHODS),
    model=_alternatives(MODELS),
    extra=_alternatives(EXTRA),
    fasta=_alternatives(FASTAS),
    vcf=_alternatives(VCFS),


# ----------------------------------------------------------------------------------------------- motifs
def motifs_flags():
    """The settings of config `motifs:` as flags of `deeplift-genomics motifs` (declared in its SETTINGS)."""
    return workflow_flags(MOTIFS_SETTINGS, config)


def motifs_gather_inputs(wildcards):
    """The merge's inputs: the score, plus the patterns and the hit shards when hits are sharded."""
    inputs = {"scores": f"{OUT}/score/{wildcards.fasta}"}
    if config["motifs"]["hit_caller"] == "joint":
        work = f"{OUT}/motifs_work/{wildcards.fasta}"
        n = config["motifs"]["shards"]
        inputs.update(patterns=f"{work}/patterns", shards=[f"{work}/{k}" for k in range(1, n + 1)])
    else:
        inputs["motif_db"] = config["motifs"]["motif_db"]
    return inputs
