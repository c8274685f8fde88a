# Per-task HTML reports (self-contained, images embedded) plus an index, from the benchmark's tables; the
# index links to the motif reports.


rule report:
    input:
        bench=f"{OUT}/benchmark",
        motifs=MOTIF_BENCHMARK_OUTPUTS + ALL_MOTIF_OUTPUTS,
    output:
        report(
            directory(f"{OUT}/report"),
            patterns=["{page}.html"],
            caption="../report/pages.rst",
            category="Benchmark report",
        ),
    log:
        f"{LOGS}/report.log",
    benchmark:
        f"{BENCH}/report.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        motifs=lambda wildcards, input: cli_flags(motifs=list(input.motifs) or None),
    shell:
        "deeplift-genomics report --benchmark {input.bench} --out {output} {params.motifs} 2> {log}"
