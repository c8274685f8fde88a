"""Simulation of the DeepLIFT paper's GATA1/TAL1 benchmark, with its ground truth."""
