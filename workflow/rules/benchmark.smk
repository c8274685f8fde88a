# Compare the methods on the simulated ground truth (paper Fig. 5, Fig. 5b, auROC, leakage); several models
# (config model.train.seeds) give the mean and spread over models.


rule benchmark:
    input:
        DATA_INPUT,
        models=[model_files(name)["model"] for name in MODELS],
        weights=[model_files(name)["weights"] for name in MODELS],
        attributions=ATTRIBUTIONS,
    output:
        report(
            directory(f"{OUT}/benchmark"),
            patterns=["{name}.tsv", "figures/{figure}.png"],
            caption="../report/benchmark.rst",
            category="Benchmark",
        ),
    log:
        f"{LOGS}/benchmark.log",
    benchmark:
        f"{BENCH}/benchmark.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        data=DATA_FLAGS,
        models=lambda wildcards, input: [os.path.dirname(path) for path in input.models],
        flags=workflow_flags(BENCHMARK_SETTINGS, config),
    shell:
        "deeplift-genomics benchmark {params.data} --model {params.models} --out {output}"
        " --attributions {input.attributions} {params.flags} 2> {log}"
