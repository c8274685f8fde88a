# deeplift-genomics workflow: the paper's simulated GATA1/TAL1 benchmark end to end, and scoring FASTA files.
#
#   snakemake                      # `all`: simulate -> train -> attribute (every method) -> benchmark -> report,
#                                  #   and the simulated ground-truth VCF through `variants`;
#                                  #   with data.peaks: dataset (peaks on a genome) -> train -> score test windows
#   snakemake score                # score the FASTA files of config score.fasta: shards, then one gather each
#   snakemake variants             # score the VCF files of config variants.vcf: shards, then one gather each
#   snakemake motifs               # motifs of each scored FASTA and of the benchmark's attributions (in `all`)
#   snakemake --configfile my.yaml # keys of my.yaml override config/config.yaml (schema: config/schema/)
#   snakemake --workflow-profile profiles/slurm   # run the jobs on a SLURM cluster
#
# Every rule shells into the `deeplift-genomics` command with explicit flags (see `snakemake -n -p`), writes
# its log to OUTDIR/logs and its timing to OUTDIR/benchmarks.

from snakemake.utils import min_version, validate

min_version("8.0")


configfile: os.path.join(workflow.basedir, "config/config.yaml")


validate(config, "config/schema/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/dataset.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/attribute.smk"
include: "workflow/rules/benchmark.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/variants.smk"
include: "workflow/rules/motifs.smk"


localrules:
    all,
    score,
    variants,
    motifs,


rule all:
    default_target: True
    input:
        ALL_TARGETS,
        ALL_VARIANT_OUTPUTS,
        ALL_MOTIF_OUTPUTS,
        MOTIF_BENCHMARK_OUTPUTS,


rule score:
    input:
        SCORE_OUTPUTS,


rule variants:
    input:
        VARIANT_OUTPUTS,


rule motifs:
    input:
        MOTIF_OUTPUTS,
        MOTIF_BENCHMARK_OUTPUTS,
