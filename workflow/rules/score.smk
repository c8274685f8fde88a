# Score FASTA files: each is split into SHARDS record ranges that run as separate jobs, then gathered.

SCORE_OUTPUTS = [f"{OUT}/score/{name}" for name in FASTAS]
