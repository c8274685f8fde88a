"""Files in and out: FASTA, one-hot, VCF, YAML config files, atomic writes, guarded output directories."""
