# Per-task HTML reports (self-contained, images embedded) plus an index, from the benchmark's tables.


rule report:
    input:
        f"{OUT}/benchmark",
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
    shell:
        "deeplift-genomics report --benchmark {input} --out {output} 2> {log}"
