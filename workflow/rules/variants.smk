# Score VCF files with the first model (`deeplift-genomics variants`): each VCF's entries are split into
# variants.shards contiguous blocks (whole chunks of chunk_size entries), scored as separate jobs
# (`--shard K/N`, into temporary OUTDIR/variants_shards/NAME/K), then gathered (`--gather`) into
# OUTDIR/variants/NAME: variants.tsv, scores.h5, skipped.tsv, summary.json and report.html, exactly what one
# unsharded run writes (the p- and q-values are computed at the gather from the shards' pooled null SNVs).
# Each shard screens every allele with forward passes and explains the ones variants.explain* select. A
# killed run redoes only the unfinished shards.

VARIANT_SHARDS = config["variants"]["shards"]


rule variants_vcf:
    input:
        unpack(variants_inputs),
    output:
        temp(directory(f"{OUT}/variants_shards/{{vcf}}/{{shard}}")),
    log:
        f"{LOGS}/variants/{{vcf}}/shard{{shard}}.log",
    benchmark:
        f"{BENCH}/variants/{{vcf}}/shard{{shard}}.tsv"
    wildcard_constraints:
        shard=r"[1-9][0-9]*",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        model=lambda wildcards, input: os.path.dirname(input.model),
        shard=lambda wildcards: f"{wildcards.shard}/{VARIANT_SHARDS}",
        flags=variants_flags(),
    shell:
        "deeplift-genomics variants --model {params.model} --fasta {input.fasta} --vcf {input.vcf}"
        " --shard {params.shard} --out {output} {params.flags} 2> {log}"


rule variants_gather:
    input:
        lambda wildcards: [f"{OUT}/variants_shards/{wildcards.vcf}/{k}" for k in range(1, VARIANT_SHARDS + 1)],
    output:
        report(
            directory(f"{OUT}/variants/{{vcf}}"),
            patterns=["{page}.html", "{table}.tsv"],
            caption="../report/variants.rst",
            category="Variant effects",
            subcategory="{vcf}",
        ),
    log:
        f"{LOGS}/variants/{{vcf}}.log",
    benchmark:
        f"{BENCH}/variants/{{vcf}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        "deeplift-genomics variants --gather {input} --out {output} 2> {log}"
