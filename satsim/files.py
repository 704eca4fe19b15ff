"""Reading input text, and writing output files safely: checked before the work, complete or
absent after it.

A regular file (or a new one) is written to a hidden temporary beside it and renamed over it
only when complete, with the permissions a plain ``open`` would give (the umask, or the
existing file's mode); a temporary left by a killed write is removed by the next write to
that target. A symlink is followed, never replaced. A FIFO or a device (``/dev/null``) is
written in place: renaming over it would destroy it. ``/dev/stdout`` and ``/dev/stderr``
(``/dev/fd/N``) are the process's own streams, written through its descriptor, even when the
shell redirects them to a file.

:func:`check_distinct` refuses, before any work, a command whose output would overwrite one
of its inputs or another of its outputs.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from satsim.errors import SatsimError

try:
    import fcntl
except ImportError:  # no advisory locks (Windows): stale temporaries are left alone
    fcntl = None  # type: ignore[assignment]


def read_text(path: Path) -> str:
    """A text file's contents; errors name the file (missing, unreadable, not UTF-8)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SatsimError(f"cannot read: {exc.strerror}", source=path) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SatsimError(f"not UTF-8 text (byte {exc.start}): a binary or wrongly encoded "
                          "file?", source=path) from None


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, cached per process by (path, size, modification time)."""
    info = Path(path).stat()
    return _sha256(str(Path(path).resolve()), info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _stream_fd(path: str | Path) -> int | None:
    """The descriptor ``path`` names if it is one of this process's streams (``/dev/stdout``,
    ``/dev/stderr``, ``/dev/fd/N``, ``/proc/self/fd/N``), else ``None``."""
    text = os.path.abspath(path)
    named = {"/dev/stdout": 1, "/dev/stderr": 2}.get(text)
    number = re.fullmatch(r"/(?:dev|proc/self)/fd/(\d+)", text)
    return named if named is not None else int(number.group(1)) if number else None


def _is_stream(path: str | Path) -> bool:
    """``-``, a device, a FIFO or a process stream: written in place, nothing to protect."""
    if str(path) == "-" or _stream_fd(path) is not None:
        return True
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False  # not there yet: a file to be
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def check_distinct(outputs: Sequence[tuple[str, str | Path | None]],
                   inputs: Sequence[tuple[str, str | Path | None]] = ()) -> None:
    """Refuse a command whose output would overwrite one of its inputs or another output.

    Each item is ``(option, path)``; ``None`` is an option not given. Paths are compared as
    the files they name: after symlinks, and as one inode where both exist (hard links). An
    output folder (``satsim sweep --out``) must not hold an input either. ``-``, devices,
    FIFOs and ``/dev/stdout`` are streams, not files to protect. Nor may an output lie inside
    an input folder (a file in a sweep's results would break every Parquet reader of it).

    Raises
    ------
    SatsimError
        Naming both options and paths; called before any work, so nothing is written.
    """
    written = [(option, path) for option, path in outputs
               if path is not None and str(path) != "" and not _is_stream(path)]
    read = [(option, path) for option, path in inputs
            if path is not None and os.path.exists(path) and not _is_stream(path)]
    for i, (option, path) in enumerate(written):
        for other, used in written[:i]:
            if _same(path, used):
                raise SatsimError(f"the same file as {other} {used}: give each output its own "
                                  "file", source=f"{option} {path}")
        for other, used in read:
            how = ("the same file as" if _same(path, used) else
                   "holds" if _inside(used, path) else
                   "lies inside" if os.path.isdir(used) and _inside(path, used) else None)
            if how is not None:
                raise SatsimError(f"{how} the input {other} {used}: write the output elsewhere",
                                  source=f"{option} {path}")


def _same(a: str | Path, b: str | Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # one of them does not exist (yet)
        return False


def _inside(path: str | Path, folder: str | Path) -> bool:
    """Whether ``path`` lies in the folder ``folder`` (or in one below it)."""
    return os.path.realpath(path).startswith(os.path.join(os.path.realpath(folder), ""))


def check_writable(path: str | Path) -> Path:
    """Fail now, not after a long run, if ``path`` cannot receive an output file.

    Returns the path to write: ``path`` with symlinks resolved.
    """
    if str(path) == "":
        raise SatsimError("empty output path", source="''")
    stream = _stream_fd(path)
    if stream is not None:
        try:
            os.fstat(stream)
        except OSError as exc:
            raise SatsimError(f"cannot write: {exc.strerror}", source=path) from None
        return Path(path)
    target = Path(os.path.realpath(path))
    try:  # a name the system cannot take (too long, ...) fails a lookup with an OSError
        if target.is_dir():
            raise SatsimError("is a folder, expected a file name", source=path)
        if target.exists() and not target.is_file():
            if not os.access(target, os.W_OK):
                raise SatsimError("cannot write: permission denied", source=path)
            return target  # a FIFO or device: written in place
        if not target.parent.is_dir():
            raise SatsimError("folder does not exist", source=path)
        if target.exists() and not os.access(target, os.W_OK):
            raise SatsimError("cannot write: permission denied", source=path)
        # The only reliable test (root, read-only mounts, /proc): create a temporary there.
        fd, probe = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        raise SatsimError(f"cannot write: {exc.strerror}", source=path) from None
    os.close(fd)
    Path(probe).unlink(missing_ok=True)
    return target


def write_atomic(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``path`` with ``write(handle)``: all of it, or (on any failure) nothing."""
    target = check_writable(path)
    stream = _stream_fd(path)
    if stream is not None:
        sys.stdout.flush()  # what was printed comes first
        sys.stderr.flush()
        try:
            with os.fdopen(os.dup(stream), "wb") as handle:
                write(handle)
        except BrokenPipeError:
            raise  # a reader gone (`| head`): the caller stops quietly
        except OSError as exc:
            raise SatsimError(f"cannot write: {exc.strerror}", source=path) from None
        return Path(path)
    try:
        if target.exists() and not target.is_file():
            with target.open("wb") as handle:
                write(handle)
            return Path(path)
        mode = (stat.S_IMODE(target.stat().st_mode) if target.exists()
                else 0o666 & ~_umask())
        remove_stale(target.parent, f".{glob.escape(target.name)}.*.part")
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        raise SatsimError(f"cannot write: {exc.strerror}", source=path) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            if fcntl is not None:  # held until renamed: tells a live write from a dead one
                fcntl.flock(handle, fcntl.LOCK_EX)
            write(handle)
            handle.flush()
            os.chmod(tmp, mode)
            os.replace(tmp, target)
    except OSError as exc:
        raise SatsimError(f"cannot write: {exc.strerror}", source=path) from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return Path(path)


def remove_stale(folder: Path, pattern: str = ".*.part") -> None:
    """Delete the temporaries in ``folder`` matching ``pattern`` that a killed write left:
    those whose writer no longer holds their lock (a lock dies with its process)."""
    if fcntl is None:
        return
    for part in folder.glob(pattern):
        try:
            fd = os.open(part, os.O_RDONLY)
        except OSError:
            continue  # gone already, or not ours to read
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            part.unlink()
        except OSError:
            pass  # a write in progress (locked), or not ours to delete
        finally:
            os.close(fd)


def write_text(path: str | Path, text: str) -> Path:
    """:func:`write_atomic` for text (UTF-8)."""
    return write_atomic(path, lambda handle: handle.write(text.encode()))
