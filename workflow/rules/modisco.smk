# Optional: modisco-lite motifs (and its HTML report) from each scored FASTA's hypothetical scores (the
# first scored task: score.tasks picks it). `modisco` is modisco-lite's own command (pip install modisco-lite).


rule modisco_fasta:
    input:
        f"{OUT}/score/{{fasta}}",
    output:
        directory(f"{OUT}/modisco/{{fasta}}"),
    log:
        f"{LOGS}/modisco/{{fasta}}.log",
    benchmark:
        f"{BENCH}/modisco/{{fasta}}.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        max_seqlets=config["modisco"]["max_seqlets"],
        window=config["modisco"]["window"],
    shell:
        "mkdir -p {output}"
        " && modisco motifs -s {input}/ohe.npz -a {input}/shap.npz -n {params.max_seqlets} -w {params.window}"
        " -o {output}/modisco_results.h5 2> {log}"
        " && modisco report -i {output}/modisco_results.h5 -o {output}/report -s ./ 2>> {log}"
