"""Foundations every layer uses: errors, constants, logging, progress bars, devices."""
