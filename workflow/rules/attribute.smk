# One attribution file per method setting of config attribute.methods, all on the same model and sequences.


rule attribute:
    input:
        DATA_INPUT,
        **MODEL_INPUT,
    output:
        f"{OUT}/attributions/{{method}}.npz",
    params:
        data=DATA_FLAGS,
        model=lambda wildcards, input: os.path.dirname(input.model),
        method=lambda wildcards: method_flags(wildcards.method),
        flags=cli_flags(
            split=config["attribute"]["split"],
            max_sequences=config["attribute"]["max_sequences"],
            batch_size=config["attribute"]["batch_size"],
            device=DEVICE,
            seed=config["attribute"]["seed"],
        ),
    log:
        f"{LOGS}/attribute/{{method}}.log",
    benchmark:
        f"{BENCH}/attribute/{{method}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    shell:
        "deeplift-genomics attribute {params.data} --model {params.model} --out {output} {params.method}"
        " {params.flags} 2> {log}"
