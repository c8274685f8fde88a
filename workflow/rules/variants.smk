# Score VCF files with the first model (`deeplift-genomics variants`): each VCF's entries are split into
# variants.shards contiguous blocks (whole chunks of chunk_size entries) and run in three steps, so that the
# alleles explained are the ones an unsharded run explains:
#   1. variants_screen: each shard screens every allele with forward passes (`--shard K/N --screen-only`,
#      into temporary OUTDIR/variants_screen/NAME/K);
#   2. variants_select: one job chooses the alleles to explain over all shards' screens with the run's
#      variants.explain* settings (`--select`, OUTDIR/variants_select/NAME/selection.json);
#   3. variants_vcf: each shard explains the chosen alleles of its block, taking its screen up again
#      (`--explain-ids ... --screened ...`, into temporary OUTDIR/variants_shards/NAME/K);
# then variants_gather merges the shards (`--gather`) into OUTDIR/variants/NAME: variants.tsv, scores.h5,
# skipped.tsv, summary.json and report.html, exactly what one unsharded run writes (the p- and q-values are
# computed at the gather from the shards' pooled null SNVs). A killed run redoes only the unfinished jobs.

VARIANT_SHARDS = config["variants"]["shards"]


rule variants_screen:
    input:
        unpack(variants_inputs),
    output:
        temp(directory(f"{OUT}/variants_screen/{{vcf}}/{{shard}}")),
    log:
        f"{LOGS}/variants/{{vcf}}/screen{{shard}}.log",
    benchmark:
        f"{BENCH}/variants/{{vcf}}/screen{{shard}}.tsv"
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
        " --shard {params.shard} --screen-only --out {output} {params.flags} 2> {log}"


rule variants_select:
    input:
        lambda wildcards: [f"{OUT}/variants_screen/{wildcards.vcf}/{k}" for k in range(1, VARIANT_SHARDS + 1)],
    output:
        temp(directory(f"{OUT}/variants_select/{{vcf}}")),
    log:
        f"{LOGS}/variants/{{vcf}}/select.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "deeplift-genomics variants --select {input} --out {output} 2> {log}"


rule variants_vcf:
    input:
        unpack(variants_inputs),
        screen=f"{OUT}/variants_screen/{{vcf}}/{{shard}}",
        selected=f"{OUT}/variants_select/{{vcf}}",
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
        " --shard {params.shard} --screened {input.screen} --explain-ids {input.selected}/selection.json"
        " --out {output} {params.flags} 2> {log}"


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
