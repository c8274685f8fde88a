"""Foundations every layer uses: errors, constants, logging, progress bars, devices, the version, and 0.2's
module paths (:mod:`.legacy_paths`)."""
