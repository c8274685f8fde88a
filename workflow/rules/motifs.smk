# Motifs (`deeplift-genomics motifs`): seqlets, patterns, known-motif matches (TOMTOM against the packaged
# ENCODE motifs or config motifs.motif_db), instances and an HTML report, for every gathered score
# (OUTDIR/motifs/NAME) and for the benchmark's attributions of config motifs.benchmark_method
# (OUTDIR/motifs/benchmark), which the benchmark report links to.
#
# A gathered score is done in three steps, like `score`: the patterns once over all its records
# (`--discover-only`, into temporary OUTDIR/motifs_work/NAME/patterns), hits scanned in motifs.shards
# contiguous blocks of records as separate jobs (`--patterns --shard K/N`, into OUTDIR/motifs_work/NAME/K),
# then one fit over all and every output (`--gather`) into OUTDIR/motifs/NAME: exactly what one `motifs`
# run writes. Each job reads motifs.chunk_bases bases of scores at a time. The window hit caller has no
# shards: with motifs.hit_caller window one job does it all.

MOTIF_SHARDS = config["motifs"]["shards"] if config["motifs"]["hit_caller"] == "joint" else 0


rule motifs_patterns:
    input:
        config["motifs"]["motif_db"],
        scores=f"{OUT}/score/{{fasta}}",
    output:
        temp(directory(f"{OUT}/motifs_work/{{fasta}}/patterns")),
    log:
        f"{LOGS}/motifs/{{fasta}}/patterns.log",
    benchmark:
        f"{BENCH}/motifs/{{fasta}}/patterns.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        flags=motifs_flags(),
    shell:
        "deeplift-genomics motifs --scores {input.scores} --discover-only --out {output} {params.flags}"
        " 2> {log}"


rule motifs_hits:
    input:
        scores=f"{OUT}/score/{{fasta}}",
        patterns=f"{OUT}/motifs_work/{{fasta}}/patterns",
    output:
        temp(directory(f"{OUT}/motifs_work/{{fasta}}/{{shard}}")),
    log:
        f"{LOGS}/motifs/{{fasta}}/shard{{shard}}.log",
    benchmark:
        f"{BENCH}/motifs/{{fasta}}/shard{{shard}}.tsv"
    wildcard_constraints:
        shard=r"[1-9][0-9]*",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        shard=lambda wildcards: f"{wildcards.shard}/{MOTIF_SHARDS}",
        flags=motifs_flags(),
    shell:
        "deeplift-genomics motifs --scores {input.scores} --patterns {input.patterns}"
        " --shard {params.shard} --out {output} {params.flags} 2> {log}"


rule motifs_fasta:
    input:
        unpack(motifs_gather_inputs),
    output:
        directory(f"{OUT}/motifs/{{fasta}}"),
    log:
        f"{LOGS}/motifs/{{fasta}}.log",
    benchmark:
        f"{BENCH}/motifs/{{fasta}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        steps=lambda wildcards, input: cli_flags(
            patterns=input.get("patterns"), gather=list(input.get("shards", [])) or None
        ),
        flags=motifs_flags(),
    shell:
        "deeplift-genomics motifs --scores {input.scores} {params.steps} --out {output} {params.flags}"
        " 2> {log}"


rule motifs_benchmark:
    input:
        DATA_INPUT,
        config["motifs"]["motif_db"],
        attributions=MOTIF_BENCHMARK_ATTRIBUTIONS,
    output:
        directory(f"{OUT}/motifs/benchmark"),
    log:
        f"{LOGS}/motifs/benchmark.log",
    benchmark:
        f"{BENCH}/motifs/benchmark.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        data=DATA_FLAGS,
        flags=motifs_flags(),
    shell:
        "deeplift-genomics motifs --attributions {input.attributions} {params.data} --out {output}"
        " {params.flags} 2> {log}"
