# Simulate the paper's GATA1/TAL1 benchmark (skipped when config data.simdata names an existing dataset).


rule simulate:
    output:
        **SIM_FILES,
    log:
        f"{LOGS}/simulate.log",
    benchmark:
        f"{BENCH}/simulate.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        out=lambda wildcards, output: os.path.dirname(output.fasta),
        flags=workflow_flags(SIMULATE_SETTINGS, config),
    shell:
        "deeplift-genomics simulate --out {params.out} {params.flags} 2> {log}"
