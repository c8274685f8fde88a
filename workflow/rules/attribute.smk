# One attribution file per model and method setting of config attribute.methods, on the same sequences.


rule attribute:
    input:
        DATA_INPUT,
        unpack(lambda wildcards: model_files(wildcards.model)),
    output:
        f"{OUT}/attributions/{{model}}/{{method}}.npz",
    log:
        f"{LOGS}/attribute/{{model}}/{{method}}.log",
    benchmark:
        f"{BENCH}/attribute/{{model}}/{{method}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        data=DATA_FLAGS,
        model=lambda wildcards, input: os.path.dirname(input.model),
        method=lambda wildcards: method_flags(wildcards.method),
        flags=workflow_flags(ATTRIBUTE_SETTINGS, config),
    shell:
        "deeplift-genomics attribute {params.data} --model {params.model} --out {output} {params.method}"
        " {params.flags} 2> {log}"
