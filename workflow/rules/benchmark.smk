# Compare the methods on the simulated ground truth (paper Fig. 5, Fig. 5b, auROC, leakage).


rule benchmark:
    input:
        DATA_INPUT,
        **MODEL_INPUT,
        attributions=ATTRIBUTIONS,
    output:
        directory(f"{OUT}/benchmark"),
    params:
        data=DATA_FLAGS,
        model=lambda wildcards, input: os.path.dirname(input.model),
        flags=cli_flags(
            max_sequences=config["benchmark"]["max_sequences"],
            device=DEVICE,
            seed=config["benchmark"]["seed"],
        ),
    log:
        f"{LOGS}/benchmark.log",
    benchmark:
        f"{BENCH}/benchmark.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "deeplift-genomics benchmark {params.data} --model {params.model} --out {output}"
        " --attributions {input.attributions} {params.flags} 2> {log}"
