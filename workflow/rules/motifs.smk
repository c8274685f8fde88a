# Motifs (`deeplift-genomics motifs`): seqlets, patterns, known-motif matches (TOMTOM against the packaged
# ENCODE motifs or config motifs.motif_db), instances and an HTML report, for every gathered score
# (OUTDIR/motifs/NAME) and for the benchmark's attributions of config motifs.benchmark_method
# (OUTDIR/motifs/benchmark), which the benchmark report links to.


rule motifs_fasta:
    input:
        config["motifs"]["motif_db"],
        scores=f"{OUT}/score/{{fasta}}",
    output:
        directory(f"{OUT}/motifs/{{fasta}}"),
    log:
        f"{LOGS}/motifs/{{fasta}}.log",
    benchmark:
        f"{BENCH}/motifs/{{fasta}}.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        flags=motifs_flags(),
    shell:
        "deeplift-genomics motifs --scores {input.scores} --out {output} {params.flags} 2> {log}"


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
