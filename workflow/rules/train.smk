# Train the benchmark's conv net (skipped when config model.dir names an existing model).


rule train:
    input:
        DATA_INPUT,
    output:
        model=f"{OUT}/model/model.json",
        weights=f"{OUT}/model/model.safetensors",
        metrics=f"{OUT}/model/metrics.json",
    params:
        out=lambda wildcards, output: os.path.dirname(output.model),
        data=DATA_FLAGS,
        flags=cli_flags(device=DEVICE, **config["model"]["train"]),
    log:
        f"{LOGS}/train.log",
    benchmark:
        f"{BENCH}/train.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
    shell:
        "deeplift-genomics train {params.data} --out {params.out} {params.flags} 2> {log}"
