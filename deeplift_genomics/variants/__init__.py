"""Variant effects: score a VCF's alleles with the model and DeepLIFT, and say which motif each one hits.

- :mod:`.vcf`: read alleles (pysam), multi-allelic records split, symbolic alleles skipped with a reason.
- :mod:`.alleles`: both alleles' input windows from the FASTA (indels keep the length), REF checked.
- :mod:`.effects`: prediction change per task and DeepLIFT of both alleles against shared references.
- :mod:`.motif_context`: the known or discovered motif over the variant, REF and ALT match scores.
- :mod:`.outputs`, :mod:`.report`: ``variants.tsv``, ``scores.h5``, ``skipped.tsv``, ``report.html``.
- :mod:`.run`: chunks, resume, shards, the whole run's choice of alleles to explain and gather
  (:func:`score_variants`, :func:`select_screens`, :func:`gather_shards`).
"""

from __future__ import annotations

from .run import VariantOptions, VariantSummary, gather_shards, score_variants, select_screens

__all__ = ["VariantOptions", "VariantSummary", "gather_shards", "score_variants", "select_screens"]
