# Score FASTA files with the first model (`deeplift-genomics score`): each file is split into score.shards
# contiguous blocks of records, scored as separate jobs (`--shard K/N`, into temporary
# OUTDIR/score_shards/NAME/K), then gathered (`--gather`) into OUTDIR/score/NAME: scores.h5, ohe.npz/shap.npz,
# records.tsv and tracks, exactly what one unsharded run writes. Under Snakemake the shards are the unit
# of resumption: a killed run redoes only the unfinished shards.

SCORE_SHARDS = config["score"]["shards"]
SCORE_TRACK_FLAGS = " ".join(
    [
        "--bedgraph" if config["score"]["bedgraph"] else "--no-bedgraph",
        "--bigwig" if config["score"]["bigwig"] else "--no-bigwig",
    ]
)


rule score_fasta:
    input:
        unpack(score_inputs),
    output:
        temp(directory(f"{OUT}/score_shards/{{fasta}}/{{shard}}")),
    log:
        f"{LOGS}/score/{{fasta}}/shard{{shard}}.log",
    benchmark:
        f"{BENCH}/score/{{fasta}}/shard{{shard}}.tsv"
    wildcard_constraints:
        shard=r"[1-9][0-9]*",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        model=lambda wildcards, input: os.path.dirname(input.model),
        bed=lambda wildcards, input: cli_flags(bed=input.get("bed")),
        shard=lambda wildcards: f"{wildcards.shard}/{SCORE_SHARDS}",
        # tracks come from the gathered scores; the shards' own would be thrown away
        flags=f"{score_flags()} --no-bedgraph --no-bigwig",
    shell:
        "deeplift-genomics score --model {params.model} --fasta {input.fasta} {params.bed}"
        " --shard {params.shard} --out {output} {params.flags} 2> {log}"


rule score_gather:
    input:
        lambda wildcards: [f"{OUT}/score_shards/{wildcards.fasta}/{k}" for k in range(1, SCORE_SHARDS + 1)],
    output:
        report(
            directory(f"{OUT}/score/{{fasta}}"),
            patterns=["{name}.tsv"],
            caption="../report/score.rst",
            category="Scores",
            subcategory="{fasta}",
        ),
    log:
        f"{LOGS}/score/{{fasta}}.log",
    benchmark:
        f"{BENCH}/score/{{fasta}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        flags=SCORE_TRACK_FLAGS,
    shell:
        "deeplift-genomics score --gather {input} --out {output} {params.flags} 2> {log}"
