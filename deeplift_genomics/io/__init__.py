"""Files in and out: FASTA, one-hot, VCF, attribution files, YAML config files, atomic writes, guarded
output directories."""
