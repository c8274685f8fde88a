"""The sub-commands of ``deeplift-genomics``, in ``--help`` order (read by the parser and by ``--config``)."""

from __future__ import annotations

#: name -> one-line help; the module is ``deeplift_genomics.cli.<name>`` (dashes become underscores).
SUBCOMMANDS: dict[str, str] = {
    "simulate": "simulate the GATA1/TAL1 benchmark sequences with their ground truth",
    "dataset": "windows at peak summits of BED files on a genome, with negatives and contig splits, for train",
    "train": "train the benchmark conv net (or a spec from a config) on a dataset",
    "attribute": "compute DeepLIFT and baseline attributions for a dataset's sequences",
    "score": "score a FASTA (or BED regions of it) with a trained model",
    "benchmark": "compare attribution methods on the simulated benchmark (paper Fig. 5)",
    "report": "write the per-task HTML reports of a benchmark run",
    "import-model": "turn a bpnet-lite / ChromBPNet torch.save file into a model directory, running no code from it",
    "variants": "score a VCF's alleles: prediction change, DeepLIFT of REF and ALT, motif hit",
    "motifs": "find motifs in per-base scores: seqlets, patterns, known matches, instances, report",
}
