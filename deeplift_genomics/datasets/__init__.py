"""Datasets: loading and writing dataset directories, and building one from a genome and peaks (:mod:`.peaks`)."""
