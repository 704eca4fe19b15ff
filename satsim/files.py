"""Reading input text, and writing output files safely: checked before the work, complete or
absent after it.

A regular file (or a new one) is written to a hidden temporary beside it and renamed over it
only when complete, with the permissions a plain ``open`` would give (the umask, or the
existing file's mode). A symlink is followed, never replaced. A FIFO or a device
(``/dev/stdout``, ``/dev/null``) is written in place: renaming over it would destroy it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from satsim.errors import SatsimError


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


def exists(path: Path, *, regular: bool = False) -> bool:
    """Whether ``path`` names an existing entry (``regular``: a regular file). A name the
    system cannot look up (too long, ...) names none: inputs are then "no such file"."""
    try:
        return path.is_file() if regular else path.exists()
    except OSError:
        return False


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


def check_writable(path: str | Path) -> Path:
    """Fail now, not after a long run, if ``path`` cannot receive an output file.

    Returns the path to write: ``path`` with symlinks resolved.
    """
    if str(path) == "":
        raise SatsimError("empty output path", source="''")
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
    os.unlink(probe)
    return target


def write_atomic(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``path`` with ``write(handle)``: all of it, or (on any failure) nothing."""
    target = check_writable(path)
    try:
        if target.exists() and not target.is_file():
            with target.open("wb") as handle:
                write(handle)
            return Path(path)
        mode = (stat.S_IMODE(target.stat().st_mode) if target.exists()
                else 0o666 & ~_umask())
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        raise SatsimError(f"cannot write: {exc.strerror}", source=path) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as exc:
        raise SatsimError(f"cannot write: {exc.strerror}", source=path) from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """:func:`write_atomic` for text (UTF-8)."""
    return write_atomic(path, lambda handle: handle.write(text.encode()))
