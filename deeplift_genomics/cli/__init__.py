"""``deeplift-genomics``: the thin command line that every Snakemake rule calls.

Each sub-command lives in its own module ``deeplift_genomics/cli/<name>.py`` with two functions,
``add_arguments(parser)`` and ``run(args) -> int``; its settings are merged by
:func:`deeplift_genomics.cli.settings.resolve_settings`. This file only parses flags, sets up logging and
turns :class:`~deeplift_genomics.core.errors.InputError` into one clear line and exit status 2. SIGTERM and
SIGHUP become :class:`Terminated`, a ``KeyboardInterrupt``, so every command removes its temporary
outputs on them exactly as on Ctrl-C (exit status 128 + the signal's number).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import ModuleType

from ..core.errors import InputError
from ..core.logs import setup_logging, verbosity_to_level
from ..core.version import __version__
from ..io import output_dirs
from .commands import SUBCOMMANDS

log = logging.getLogger("deeplift_genomics")

EXIT_INPUT_ERROR = 2


def _load_command(name: str) -> ModuleType:
    """The module of sub-command ``name`` (``deeplift_genomics.cli.<name>``)."""
    return importlib.import_module(f"{__package__}.{name.replace('-', '_')}")


def _add_common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("logging")
    group.add_argument("-v", "--verbose", action="count", default=0, help="more log output (debug)")
    group.add_argument("-q", "--quiet", action="count", default=0, help="less log output (-q warnings, -qq errors)")
    group.add_argument("--log", metavar="FILE", default=None, help="also append the log to FILE")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser, with one sub-parser per sub-command.

    ``only``: the sub-command being run; the other sub-commands keep their names and one-line help but
    their modules (and their imports: scikit-learn, pandas, ... about 1.5 s of CPU) are not loaded.
    """
    parser = argparse.ArgumentParser(
        prog="deeplift-genomics",
        description="Explain DNA-sequence models with DeepLIFT (Shrikumar et al., ICML 2017).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if only is not None and name != only:
            continue
        module = _load_command(name)
        module.add_arguments(sub)
        sub.set_defaults(_module=module)
        _add_common(sub)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The sub-command ``argv`` runs (its first word that is not an option), when it is one."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in SUBCOMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input, 130 interrupted)."""
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_in(words))
    _spare_the_collector(argv is None)
    args = parser.parse_args(words)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_INPUT_ERROR
    setup_logging(verbosity_to_level(args.verbose, args.quiet), args.log)

    _received.clear()
    try:
        with signals_as_interrupts():
            return int(args._module.run(args) or 0)
    except Terminated as exc:
        log.error("terminated by %s", signal.Signals(exc.signum).name)
        return 128 + exc.signum
    except InputError as exc:
        if _received:
            # the signal interrupted a library call that reported it as its own error (safetensors' loader
            # says the file is corrupt): the run was terminated, the input is not at fault
            log.error("terminated by %s", signal.Signals(_received[-1]).name)
            return 128 + _received[-1]
        log.error("%s", exc)
        return _leave(EXIT_INPUT_ERROR, argv is None)
    except OSError as exc:
        # A full disk, a read-only mount, no permission: one line, never a traceback.
        if not output_dirs.is_fs_error(exc):
            raise
        log.error("%s", output_dirs.describe_os_error(exc))
        return _leave(EXIT_INPUT_ERROR, argv is None)
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    finally:
        _spare_the_collector(argv is None)


def _spare_the_collector(program: bool) -> None:
    """As a program (not a call from Python): exempt every object alive now from garbage collection.

    Importing torch, numpy and numba creates some 300,000 objects that live until the process ends.
    Python's full collections walk all of them: a ``score`` of 400 records spent 0.9 s in collections
    that found almost nothing, and the interpreter's collections at exit took another 0.5-0.8 s after
    the outputs were written (``bench/score_overhead.py --stages``). :func:`gc.freeze` after the imports
    and after the command keeps them out of those walks; objects made later are collected as before.
    A call from Python (tests, notebooks) leaves its caller's collector alone.
    """
    if program:
        gc.freeze()


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program is, so the same cleanup as Ctrl-C's runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: Termination signals received during the current run (a library may turn the exception into its own).
_received: list[int] = []


def _raise_terminated(signum: int, _frame: object) -> None:
    _received.append(signum)
    raise Terminated(signum)


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Terminated` for the block (main thread only; else nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]
    previous = {s: signal.signal(s, _raise_terminated) for s in wanted}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _leave(status: int, program: bool) -> int:
    """``status``; as a program, after a failed HDF5 write, exit at once (the HDF5 library crashes in
    its exit handler)."""
    if program and output_dirs.HDF5_WRITE_FAILED:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
