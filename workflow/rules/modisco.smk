# Optional: modisco-lite on the hypothetical scores of each scored FASTA.

MODISCO_OUTPUTS = [f"{OUT}/modisco/{name}" for name in FASTAS]
