"""Errors that reach the user as one clear line, never a traceback."""

from __future__ import annotations


class InputError(Exception):
    """Bad input from the user: a file, a record, a field or a flag.

    The CLI prints ``str(error)`` on one line and exits with status 2. Name the file, the record and
    the field in the message, e.g. ``InputError("reads.fa: record 'chr1:1-200': empty sequence")``.
    """


class UnsupportedModelError(InputError):
    """The engine cannot attribute through an op of the model exactly."""
