# Score FASTA files with the first model (`deeplift-genomics score`): scores.h5, ohe.npz/shap.npz, records.tsv
# and tracks in OUTDIR/score/NAME.

rule score_fasta:
    input:
        unpack(score_inputs),
    output:
        directory(f"{OUT}/score/{{fasta}}"),
    params:
        model=lambda wildcards, input: os.path.dirname(input.model),
        bed=lambda wildcards, input: cli_flags(bed=input.get("bed")),
        flags=score_flags(),
    log:
        f"{LOGS}/score/{{fasta}}.log",
    benchmark:
        f"{BENCH}/score/{{fasta}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    shell:
        "deeplift-genomics score --model {params.model} --fasta {input.fasta} {params.bed} --out {output}"
        " {params.flags} 2> {log}"
