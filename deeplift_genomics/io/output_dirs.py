"""Safety helpers for every command's outputs: nothing a user gives us is ever lost.

Every command that writes calls these (see "Safety helpers" in the plan and the README):

- :func:`check_output_path` before any work: ``--out`` must not equal, contain or lie inside an input
  (symlinks resolved), must not be ``.``/the working directory or one of its parents, must not be a file
  when a directory is wanted (or the reverse), must not lie under a file, and its nearest existing
  parent must be writable. One clear line (:class:`~deeplift_genomics.core.errors.InputError`, exit 2).
- :func:`output_lock`: an exclusive ``fcntl.flock`` on ``.<name>.lock`` beside the output, holding the
  pid, host and command; a second run on the same output is refused, naming the holder.
- :data:`MARKER_NAME`: every output directory we create carries ``.deeplift-genomics.json`` (command,
  version, files). An existing output directory is replaced only when it carries the marker or is empty
  (:func:`check_replaceable`); :func:`deeplift_genomics.io.atomic.atomic_directory` does both.
- :func:`describe_os_error`: ENOSPC, EDQUOT, EROFS, EACCES, ... as one line ("no space left on DEVICE
  while writing FILE"); the CLI turns any such ``OSError`` into that line and exit 2.
- :func:`check_free_space` before large writes (HDF5 crashes at exit after a failed write on a full
  disk, so a ``scores.h5`` is never started without room for it), :func:`hdf5_write` around HDF5
  writers, :func:`remove_stale_parts` for ``.part`` files of a killed run.
- task names (repeats, the one rule for names that become files and columns) are
  checked in :mod:`deeplift_genomics.core.targets`.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import logging
import os
import re
import shutil
import socket
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..core.errors import InputError
from ..core.version import __version__

log = logging.getLogger(__name__)

MARKER_NAME = ".deeplift-genomics.json"
MARKER_FORMAT = "deeplift-genomics-output"
#: errno values that are about the file system, not about our code: reported as one line, exit 2.
FS_ERRNOS = frozenset(
    e
    for e in (
        errno.ENOSPC,
        getattr(errno, "EDQUOT", None),
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.EEXIST,
        errno.ENOENT,
        errno.EFBIG,
        errno.EIO,
        errno.ENAMETOOLONG,
    )
    if e is not None
)

# Set when an HDF5 write failed on the file system: the HDF5 library then crashes at interpreter exit,
# so the CLI leaves with os._exit after its one-line message (see deeplift_genomics.cli.main).
HDF5_WRITE_FAILED = False


# -- paths -------------------------------------------------------------------------------------------


def _resolve(path: str | Path) -> Path:
    return Path(os.path.abspath(Path(path).expanduser())).resolve()


def _inside(a: Path, b: Path) -> bool:
    """Whether ``a`` equals ``b`` or lies inside it (both resolved)."""
    return a == b or b in a.parents


def check_output_path(
    out: str | Path,
    inputs: Iterable[str | Path | None] = (),
    *,
    kind: str = "dir",
    flag: str = "--out",
) -> Path:
    """Refuse an output path that would destroy an input or cannot be written; return it resolved.

    Parameters
    ----------
    out
        The output directory (``kind="dir"``) or file (``kind="file"``).
    inputs
        Every input path of the run (files or directories; ``None`` entries are skipped).
    kind
        ``"dir"`` or ``"file"``.
    flag
        How the output is named in messages.

    Raises
    ------
    InputError
        ``out`` equals, contains or lies inside an input; is the working directory or one of its
        parents; is an existing file when a directory is wanted or an existing directory when a file is;
        lies under a file; or its nearest existing parent is not writable (read-only file system or no
        permission).
    """
    if kind not in ("dir", "file"):
        raise ValueError(f"kind must be 'dir' or 'file', got {kind!r}")
    if out is None or str(out).strip() == "":
        raise InputError(f"{flag}: give an output path")
    raw = Path(out)
    final = _resolve(raw)
    if final.parent == final:
        raise InputError(f"{flag} {raw}: is the root directory; pick a new directory")
    cwd = _resolve(Path.cwd())
    if _inside(cwd, final):
        raise InputError(
            f"{flag} {raw}: is the working directory or one of its parents, which would be replaced; "
            "pick a new directory"
        )
    for item in inputs:
        if item is None or str(item) == "":
            continue
        given = _resolve(item)
        if _inside(given, final) or _inside(final, given):
            relation = (
                "is" if given == final else "contains" if _inside(given, final) else "lies inside"
            )
            raise InputError(
                f"{flag} {raw}: {relation} the input {item}; writing there would destroy it, "
                "pick another output path"
            )
    if final.exists() or final.is_symlink():
        if kind == "dir" and not final.is_dir():
            raise InputError(f"{flag} {raw}: exists and is not a directory; pick a directory path")
        if kind == "file" and final.is_dir():
            raise InputError(f"{flag} {raw}: is a directory; give a file path")
    parent = final.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{flag} {raw}: lies under {parent}, which is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK) or _read_only_mount(parent):
        why = "is on a read-only file system" if _read_only_mount(parent) else "is not writable"
        raise InputError(f"{flag} {raw}: cannot write there: {parent} {why}")
    return final


def _read_only_mount(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def mount_point(path: str | Path) -> Path:
    """The mount point holding ``path`` (its nearest existing ancestor, then up while the device is the same)."""
    p = _resolve(path)
    while not p.exists() and p.parent != p:
        p = p.parent
    try:
        dev = p.stat().st_dev
        while p.parent != p and p.parent.stat().st_dev == dev:
            p = p.parent
    except OSError:
        pass
    return p


def describe_os_error(exc: OSError, path: str | Path | None = None) -> str:
    """One line for a file-system error: what went wrong, on which device, for which file."""
    target = path or exc.filename or _filename_from_text(str(exc)) or "an output file"
    code = exc.errno if exc.errno is not None else _errno_from_text(str(exc))
    device = mount_point(target) if target != "an output file" else None
    on = f" on {device}" if device is not None else ""  # the device is unknown when the file is
    if code == errno.ENOSPC:
        return f"no space left{on} while writing {target}; free space or pick another --out"
    if code == getattr(errno, "EDQUOT", -1):
        return f"disk quota exceeded{on} while writing {target}"
    if code == errno.EROFS:
        return f"{device or 'the output'} is a read-only file system: cannot write {target}"
    if code in (errno.EACCES, errno.EPERM):
        return f"permission denied: cannot write {target}"
    if code == errno.EFBIG:
        return f"file too large{' for ' + str(device) if device is not None else ''} while writing {target}"
    if code == errno.ENOTDIR:
        return f"{target}: a part of the path is a file, not a directory"
    if code == errno.EISDIR:
        return f"{target}: is a directory, expected a file"
    reason = exc.strerror or str(exc).splitlines()[0]
    return f"{target}: {reason}"


def _errno_from_text(text: str) -> int | None:
    # h5py: "... errno = 28, error message = 'No space left on device' ..."; Rust (safetensors): "(os error 28)"

    match = re.search(r"errno = (\d+)|\(os error (\d+)\)", text)
    return int(match[1] or match[2]) if match else None


def as_os_error(exc: BaseException, path: str | Path) -> BaseException:
    """``exc`` as an ``OSError`` on ``path`` when its text carries an errno (libraries with their own error
    types, e.g. safetensors' ``SafetensorError``), else ``exc`` itself; use as ``raise as_os_error(e, p)``."""
    code = _errno_from_text(str(exc))
    if code is None or isinstance(exc, OSError):
        return exc
    return OSError(code, os.strerror(code), str(path))


def _filename_from_text(text: str) -> str | None:

    match = re.search(r"filename = '([^']+)'", text)
    return match[1] if match else None


def is_fs_error(exc: BaseException) -> bool:
    """Whether ``exc`` is an ``OSError`` about the file system (full, read-only, no permission, ...)."""
    if not isinstance(exc, OSError):
        return False
    code = exc.errno if exc.errno is not None else _errno_from_text(str(exc))
    return code in FS_ERRNOS


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn a file-system ``OSError`` raised in the block into one :class:`InputError` line naming ``path``."""
    try:
        yield
    except InputError:
        raise
    except OSError as exc:
        if not is_fs_error(exc):
            raise
        raise InputError(describe_os_error(exc, exc.filename or path)) from None


def free_bytes(path: str | Path) -> int:
    """Bytes available to us on the file system holding ``path`` (or its nearest existing parent)."""
    p = _resolve(path)
    while not p.exists() and p.parent != p:
        p = p.parent
    st = os.statvfs(p)
    return int(st.f_bavail) * int(st.f_frsize)


def check_free_space(path: str | Path, needed: int, what: str = "") -> None:
    """Refuse, with the "no space left" line, to start writing ``needed`` bytes at ``path`` without room.

    Used before HDF5 writes: the HDF5 library crashes at interpreter exit after a failed write, so
    a full disk must be found before the file is started.
    """
    free = free_bytes(path)
    if needed > free:
        raise InputError(
            f"no space left on {mount_point(path)} while writing {what or path}: needs about "
            f"{_mb(needed)}, {_mb(free)} free; free space or pick another --out"
        )


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


@contextlib.contextmanager
def hdf5_write(path: str | Path) -> Iterator[None]:
    """Around an HDF5 writer: a file-system error becomes one line, and the crash at exit is avoided.

    After a failed write the HDF5 library's objects cannot be closed cleanly: their deallocation prints
    tracebacks and the library crashes at interpreter exit. This records the failure
    (:data:`HDF5_WRITE_FAILED`), silences those deallocation messages, and the CLI leaves with
    ``os._exit`` after printing the line.
    """
    global HDF5_WRITE_FAILED
    previous, previous_except = sys.unraisablehook, sys.excepthook
    sys.unraisablehook = _quiet_h5py_dealloc(previous)
    # Cython prints the deallocation error's traceback through sys.excepthook first
    sys.excepthook = _quiet_h5py_excepthook(previous_except)
    try:
        yield
    except InputError:
        raise
    except OSError as exc:
        if not is_fs_error(exc):
            raise
        HDF5_WRITE_FAILED = True
        raise InputError(describe_os_error(exc, path)) from None
    finally:
        if not HDF5_WRITE_FAILED:
            sys.unraisablehook, sys.excepthook = previous, previous_except


def _quiet_h5py_excepthook(previous: Any) -> Any:
    import traceback

    def hook(kind: Any, value: Any, tb: Any) -> None:
        where = " ".join(frame.filename for frame in traceback.extract_tb(tb)) if tb is not None else ""
        if "h5py" in where and _errno_from_text(str(value)) in FS_ERRNOS:
            return
        previous(kind, value, tb)

    return hook


def _quiet_h5py_dealloc(previous: Any) -> Any:
    """An unraisable hook that drops h5py's deallocation errors after a failed write (a full disk)."""

    def hook(unraisable: Any) -> None:
        text = f"{getattr(unraisable, 'object', '')!r} {getattr(unraisable, 'exc_value', '')}"
        if "h5py" in text and _errno_from_text(text) in FS_ERRNOS:
            return
        previous(unraisable)

    return hook


def open_output_dir(out_dir: Path, command: str) -> tuple[bool, bool]:
    """Create (or take over, when it is ours) the output directory of a resumable run.

    The marker goes in first, so an interrupted run's directory (its resumable chunks) is recognised as
    ours and a user's folder never is. Returns whether ``out_dir`` existed and whether the marker was
    written now (both for :func:`forget_failed_start`).
    """
    existed = out_dir.exists()
    check_replaceable(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    marked_now = not is_ours(out_dir)
    if marked_now:
        write_marker(out_dir, command, files=[])
    remove_stale_parts(out_dir)
    return existed, marked_now


def forget_failed_start(out_dir: Path, work: Path, chunks_dir: Path, existed: bool, marked_now: bool) -> None:
    """After bad input met before any chunk was saved, leave ``out_dir`` as it was before the run.

    The work directory goes; a directory this run made goes too, and a user's empty directory loses the
    marker this run put in it. Once a chunk is saved, everything stays for a resumed run.
    """
    if any(chunks_dir.glob("chunk_*.npz")):
        return
    shutil.rmtree(work, ignore_errors=True)
    if existed and not marked_now:
        return
    with contextlib.suppress(OSError):
        (out_dir / MARKER_NAME).unlink()
        if not existed:
            out_dir.rmdir()


def remove_entry(path: Path) -> None:
    """Remove a file, or a directory with its contents; a symbolic link is removed, never followed."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def remove_stale_parts(directory: str | Path, recursive: bool = False) -> list[Path]:
    """Remove our temporary files (``.<name>.<random>.part``, made by :mod:`atomic`) left by a killed run.

    Only names of that pattern are touched; returns what was removed.
    """
    d = Path(directory)
    if not d.is_dir():
        return []
    removed = []
    pattern = "**/.*.part" if recursive else ".*.part"
    for path in d.glob(pattern):
        with contextlib.suppress(OSError):
            remove_entry(path)
            removed.append(path)
    if removed:
        log.info("removed %d temporary file(s) of an interrupted run in %s", len(removed), d)
    return removed


# -- ownership marker -----------------------------------------------------------------------------------


def marker_document(command: str, files: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "format": MARKER_FORMAT,
        "command": command,
        "version": __version__,
        "files": sorted(files),
    }


def write_marker(directory: str | Path, command: str, files: Sequence[str] | None = None) -> Path:
    """Write :data:`MARKER_NAME` into ``directory``: it was made by ``command`` of this package.

    ``files`` defaults to every file under ``directory`` (relative paths, the marker and temporary
    ``.part`` files excluded), so readers can check the directory is complete.
    """
    d = Path(directory)
    if files is None:
        files = [
            str(p.relative_to(d))
            for p in d.rglob("*")
            if p.is_file() and p.name != MARKER_NAME and not p.name.endswith(".part")
        ]
    path = d / MARKER_NAME
    tmp = d / f".{MARKER_NAME}.{os.getpid()}.part"
    tmp.write_text(json.dumps(marker_document(command, files), indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_marker(directory: str | Path) -> dict[str, Any] | None:
    """The marker of ``directory``, or ``None`` when it has none (or an unreadable one)."""
    path = Path(directory) / MARKER_NAME
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == MARKER_FORMAT else None


def is_ours(directory: str | Path) -> bool:
    """Whether ``directory`` carries our marker."""
    return read_marker(directory) is not None


def check_replaceable(out: str | Path, flag: str = "--out") -> None:
    """Refuse to replace an existing ``out`` that is not recognisably one of ours.

    An absent path, an empty directory or one carrying :data:`MARKER_NAME` may be replaced; a file or a
    non-empty directory without the marker is refused (it may be a user's folder).
    """
    p = Path(out)
    if not (p.exists() or p.is_symlink()):
        return
    if not p.is_dir():
        raise InputError(f"{flag} {p}: exists and is not a directory; pick a directory path")
    if is_ours(p):
        return
    if any(p.iterdir()):
        raise InputError(
            f"{flag} {p}: exists and was not written by deeplift-genomics (no {MARKER_NAME}); it would be "
            "replaced as a whole, so pick a new or empty directory (or delete it yourself)"
        )


def check_complete(directory: str | Path, what: str = "output directory") -> None:
    """Refuse a directory whose marker lists files that are missing (a run that did not finish)."""
    marker = read_marker(directory)
    if marker is None:
        return
    missing = [name for name in marker.get("files", []) if not (Path(directory) / name).exists()]
    if missing:
        shown = ", ".join(missing[:5]) + (f" (and {len(missing) - 5} more)" if len(missing) > 5 else "")
        raise InputError(f"{directory}: incomplete {what}: {shown} missing; rerun the command that wrote it")


# -- lock -------------------------------------------------------------------------------------------------


def lock_path(out: str | Path) -> Path:
    """The lock file of output ``out``: ``.<name>.lock`` beside it."""
    final = _resolve(out)
    return final.parent / f".{final.name}.lock"


@contextlib.contextmanager
def output_lock(out: str | Path, command: str, flag: str = "--out") -> Iterator[Path]:
    """Hold an exclusive lock on output ``out`` for the block; refuse if another run holds it.

    The lock is ``fcntl.flock`` on ``.<name>.lock`` beside ``out`` (released by the kernel when the
    process dies, so a killed run never leaves a stale lock). The file holds the holder's pid, host,
    command and start time, which the refusal quotes.

    Raises
    ------
    InputError
        Another process holds the lock.
    """
    import fcntl

    path = lock_path(out)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        with writing(path):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise InputError(
                f"{flag} {out}: another run is writing it ({holder}); wait for it to finish or pick "
                "another output path"
            ) from None
        # The file may have been removed by the previous holder between our open and our lock.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "a process that has not written its details yet"
    return f"pid {info.get('pid')} on {info.get('host')}, `{info.get('command')}` since {info.get('started')}"


@contextlib.contextmanager
def guarded_output(
    out: str | Path,
    command: str,
    inputs: Iterable[str | Path | None] = (),
    *,
    kind: str = "dir",
) -> Iterator[Path]:
    """:func:`check_output_path`, :func:`check_replaceable` (directories) and :func:`output_lock` in one.

    Call it first thing in a command's ``run`` (after settings are resolved, before reading data), and
    write the outputs inside the block (with :func:`deeplift_genomics.io.atomic.atomic_directory` or
    :func:`~deeplift_genomics.io.atomic.atomic_path`). File-system errors in the block become one line.
    """
    check_output_path(out, inputs, kind=kind)
    if kind == "dir":
        check_replaceable(out)
    with output_lock(out, command) as lock:
        remove_stale_siblings(out)
        with writing(out):
            yield lock


def remove_stale_siblings(out: str | Path) -> list[Path]:
    """Remove the temporary ``.NAME.XXXX.part`` files and folders a killed run left beside ``out``.

    Call it holding :func:`output_lock` on ``out``: no live run writes them then. Returns what it removed.
    """
    final = Path(out)
    removed = []
    for part in final.parent.glob(f".{glob.escape(final.name)}.*.part"):
        with contextlib.suppress(OSError):
            remove_entry(part)
            removed.append(part)
    if removed:
        log.info("removed %d temporary file(s) of an earlier, killed run beside %s", len(removed), final)
    return removed
