# Shared names and helpers of the workflow: output layout, the dataset and model inputs, and turning config
# values into the CLI's explicit flags (so every shell command printed by `snakemake -p` runs by hand).

import re
import shlex

from snakemake.exceptions import WorkflowError

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
SIMULATED = config["data"]["simdata"] is None
SIM_DIR = f"{OUT}/data"
SIM_FILES = {
    "fasta": f"{SIM_DIR}/sequences.fa",
    "labels": f"{SIM_DIR}/labels.tsv",
    "embeddings": f"{SIM_DIR}/embeddings.tsv",
    "simdata": f"{SIM_DIR}/sequences.simdata.gz",
}
if SIMULATED:
    if config["data"]["test_ids"] is not None:
        raise WorkflowError("config: data.test_ids needs data.simdata (a simulated dataset carries its own split)")
    DATA_INPUT = list(SIM_FILES.values())
    DATA_FLAGS = cli_flags(data=SIM_DIR)
else:
    DATA_INPUT = [path for path in (config["data"]["simdata"], config["data"]["test_ids"]) if path]
    DATA_FLAGS = cli_flags(data=config["data"]["simdata"], test_ids=config["data"]["test_ids"])

# ------------------------------------------------------------------------------------------------- model
TRAINED = config["model"]["dir"] is None
MODEL_DIR = f"{OUT}/model" if TRAINED else config["model"]["dir"].rstrip("/")
MODEL_INPUT = {"model": f"{MODEL_DIR}/model.json", "weights": f"{MODEL_DIR}/model.safetensors"}


# ----------------------------------------------------------------------------------------------- methods
def method_label(spec):
    """The benchmark's machine name of a method setting: deeplift_<rule>, plus _shuffle<N> or _zeros."""
    base = f"deeplift_{spec['rule']}" if spec["method"] == "deeplift" else spec["method"]
    if spec["method"] == "ism" or spec["references"] == "background":
        return base
    if spec["references"] == "shuffle":
        return f"{base}_shuffle{spec['n_references']}"
    return f"{base}_{spec['references']}"


METHODS = {}
for _spec in config["attribute"]["methods"]:
    _name = _spec.get("name") or method_label(_spec)
    if _name in METHODS:
        raise WorkflowError(f"config: attribute.methods: two settings are named {_name!r}; give one a `name:`")
    METHODS[_name] = _spec


def method_flags(name):
    """Flags of one method setting; only those that apply to it, so the shell command stays readable."""
    spec = METHODS[name]
    method = spec["method"]
    # A dict, not keywords: `rule` is a keyword of the Snakefile grammar.
    return cli_flags(
        **{
            "method": method,
            "rule": spec["rule"] if method == "deeplift" else None,
            "references": None if method == "ism" else spec["references"],
            "n_references": spec["n_references"] if method != "ism" and spec["references"] == "shuffle" else None,
            "n_steps": spec["n_steps"] if method == "integrated_gradients" else None,
        }
    )


ATTRIBUTIONS = [f"{OUT}/attributions/{name}.npz" for name in METHODS]

# --------------------------------------------------------------------------------------------- FASTA files
FASTAS = {}
for _entry in config["score"]["fasta"]:
    if _entry["name"] in FASTAS:
        raise WorkflowError(f"config: score.fasta: two files are named {_entry['name']!r}")
    FASTAS[_entry["name"]] = _entry
SHARDS = config["score"]["shards"]


def _alternatives(names):
    return "|".join(re.escape(name) for name in names) if names else "(?!x)x"


wildcard_constraints:
    method=_alternatives(METHODS),
    fasta=_alternatives(FASTAS),
    shard=r"\d+",
