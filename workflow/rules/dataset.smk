# Your own peaks (config data.peaks): windows at the summits of each task's BED file on the genome, with
# negatives and held-out contigs, in the layout `train` reads (`deeplift-genomics dataset`).

if PEAKS is not None:

    rule dataset:
        input:
            genome=PEAKS["genome"],
            beds=list(PEAKS["tasks"].values()),
            extra=[
                path
                for path in (PEAKS["blacklist"], PEAKS["negatives"])
                if path and path.endswith((".bed", ".bed.gz"))
            ],
        output:
            **PEAKS_FILES,
        log:
            f"{LOGS}/dataset.log",
        benchmark:
            f"{BENCH}/dataset.tsv"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=120,
        params:
            out=lambda wildcards, output: os.path.dirname(output.fasta),
            peaks=" ".join(shlex.quote(f"{task}={path}") for task, path in PEAKS["tasks"].items()),
            flags=workflow_flags(DATASET_SETTINGS, config),
        shell:
            "deeplift-genomics dataset --genome {input.genome} --peaks {params.peaks} --out {params.out}"
            " {params.flags} 2> {log}"
