# Train the benchmark's conv net on the dataset (simulated, given, or made from data.peaks), one model per seed
# (skipped when config model.dir names an existing model), and each model of config model.extra.


rule train:
    input:
        DATA_INPUT,
    output:
        model=f"{OUT}/models/seed{{seed}}/model.json",
        weights=f"{OUT}/models/seed{{seed}}/model.safetensors",
        metrics=f"{OUT}/models/seed{{seed}}/metrics.json",
        metrics_table=report(
            f"{OUT}/models/seed{{seed}}/metrics.tsv",
            caption="../report/train_metrics.rst",
            category="Models",
            subcategory="seed {seed}",
            labels={"model": "seed {seed}", "table": "test and validation metrics"},
        ),
    log:
        f"{LOGS}/train/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/train/seed{{seed}}.tsv"
    wildcard_constraints:
        seed=r"\d+",
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        out=lambda wildcards, output: os.path.dirname(output.model),
        data=DATA_FLAGS,
        flags=train_flags(),
    shell:
        "deeplift-genomics train {params.data} --out {params.out} --seed {wildcards.seed} {params.flags} 2> {log}"


# A model of another architecture (config model.extra, e.g. the conv_attention net), on the same data.
rule train_extra:
    input:
        DATA_INPUT,
    output:
        model=f"{OUT}/models/{{extra}}/model.json",
        weights=f"{OUT}/models/{{extra}}/model.safetensors",
        metrics=f"{OUT}/models/{{extra}}/metrics.json",
        metrics_table=report(
            f"{OUT}/models/{{extra}}/metrics.tsv",
            caption="../report/train_metrics.rst",
            category="Models",
            subcategory="{extra}",
            labels={"model": "{extra}", "table": "test and validation metrics"},
        ),
    log:
        f"{LOGS}/train/{{extra}}.log",
    benchmark:
        f"{BENCH}/train/{{extra}}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        out=lambda wildcards, output: os.path.dirname(output.model),
        data=DATA_FLAGS,
        flags=lambda wildcards: extra_train_flags(wildcards.extra),
    shell:
        "deeplift-genomics train {params.data} --out {params.out} {params.flags} 2> {log}"
