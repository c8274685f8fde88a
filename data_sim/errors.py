"""The one error type for bad user input, shared by ``data_sim`` and ``deeplift_genomics``.

It lives here because ``data_sim`` depends on nothing in ``deeplift_genomics`` (the dependency runs one
way only); :mod:`deeplift_genomics.core.errors` re-exports it, so both packages raise and catch one class.
"""

from __future__ import annotations


class InputError(Exception):
    """Bad input from the user: a file, a record, a field or a flag.

    The CLI prints ``str(error)`` on one line and exits with status 2. Name the file, the record and
    the field in the message, e.g. ``InputError("reads.fa: record 'chr1:1-200': empty sequence")``.
    """
