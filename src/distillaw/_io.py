"""Safe file IO: atomic writes of files and folders, output checks before work, one JSON
encoder, OS errors as one-line :class:`~distillaw.errors.StorageError`.

- :func:`atomic_write`: a reader sees the old file or the new one, never half of one.
- :func:`atomic_dir`: the same for a folder of files (a saved posterior): the new folder is
  written beside the old one and swapped in with two renames under a lock; a crash between
  the renames leaves the complete old folder aside, and :func:`recover_dir` puts it back.
- :func:`check_output_file` / :func:`check_output_dir`: called by every command *before*
  sampling, training or searching, so an unwritable output never throws the work away.
- :func:`os_error`: turns an ``OSError`` into a ``StorageError`` naming the path.
"""
from __future__ import annotations

import contextlib
import errno as _errno
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from .errors import DistillawError, StorageError

# Seconds to wait for a file lock before giving up with a clear message. Appends hold the
# lock for well under a second; a longer wait means a stuck process or a lock file that
# cannot be created (e.g. on /proc), and the user should hear about it, not wait 2 minutes.
LOCK_TIMEOUT = float(os.environ.get("DISTILLAW_LOCK_TIMEOUT", "30"))
# Longest temp-name suffix the writers here add to a name: ".{name}.{8 random}.tmp" (mkstemp)
# and ".{name}.new-{8 random}" / ".{name}.old-{8 random}" (folders).
_TMP_EXTRA = 14
_STRERROR = {
    _errno.EROFS: "read-only file system",
    _errno.ENOSPC: "no space left on device",
    _errno.EDQUOT: "disk quota exceeded",
    _errno.EACCES: "permission denied",
    _errno.EPERM: "operation not permitted",
    _errno.EISDIR: "is a directory",
    _errno.ENOTDIR: "a parent is not a directory",
    _errno.ENAMETOOLONG: "file name too long",
}


def os_error(exc: OSError, path: str | os.PathLike | None = None,
             action: str = "cannot write") -> StorageError:
    """A one-line :class:`StorageError` for ``exc``, naming ``path`` (or the OS's filename)."""
    if isinstance(exc, StorageError):
        return exc
    where = path if path is not None else (exc.filename or "?")
    reason = _STRERROR.get(exc.errno, exc.strerror or type(exc).__name__)
    return StorageError(f"{where}: {action} ({reason})", str(where), exc.errno)


@contextlib.contextmanager
def storage_errors(path: str | os.PathLike, action: str = "cannot write") -> Iterator[None]:
    """Re-raise any ``OSError`` inside the block as a :class:`StorageError` naming ``path``."""
    try:
        yield
    except StorageError:
        raise
    except OSError as exc:
        raise os_error(exc, path, action) from None


def _umask() -> int:
    # os.umask can only be read by setting it; restore at once.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _existing_ancestor(path: Path) -> Path:
    p = path.absolute()
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    return p


def _check_writable_folder(path: Path, label: str) -> None:
    """The nearest existing ancestor of ``path`` must be a folder we can create files in.

    Probed by creating (and removing) a file: ``os.access`` says yes to root on files it
    cannot write and knows nothing of a full inode table.
    """
    anc = _existing_ancestor(path)
    if not anc.is_dir():
        raise StorageError(f"{label}: {anc} is not a folder", str(path), _errno.ENOTDIR)
    try:
        fd, probe = tempfile.mkstemp(prefix=".distillaw-probe-", dir=anc)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = _STRERROR.get(exc.errno, exc.strerror or type(exc).__name__)
        raise StorageError(f"{label}: cannot write in {anc} ({reason})", str(path),
                           exc.errno) from None


def _check_name(path: Path, label: str) -> None:
    limit = _name_max(_existing_ancestor(path))
    parts = path.absolute().parts[1:]
    for i, part in enumerate(parts):
        room = _TMP_EXTRA if i == len(parts) - 1 else 0  # the temp name is a sibling
        if len(part.encode()) + room > limit:
            raise StorageError(f"{label}: name {part[:32]!r}... is too long ({len(part.encode())} "
                               f"bytes; at most {limit - room}, leaving room for the temporary "
                               "name)", str(path), _errno.ENAMETOOLONG)


def check_output_file(path: str | os.PathLike, label: str | None = None) -> Path:
    """Raise :class:`StorageError` unless ``path`` can be written as a file (atomically).

    Checks: not a directory, name short enough for the temp name beside it, parent folder
    (or the nearest existing ancestor, when the folder will be created) writable.
    """
    path = Path(path)
    label = label or str(path)
    if path.is_dir():
        raise StorageError(f"{label}: is a directory, expected a file", str(path),
                           _errno.EISDIR)
    _check_name(path, label)
    _check_writable_folder(path.parent, label)
    return path


def check_output_dir(path: str | os.PathLike, label: str | None = None) -> Path:
    """Raise :class:`StorageError` unless ``path`` can be (re)written as a folder."""
    path = Path(path)
    label = label or str(path)
    if path.exists() and not path.is_dir():
        raise StorageError(f"{label}: exists and is not a directory", str(path), _errno.ENOTDIR)
    _check_name(path, label)
    _check_writable_folder(path.parent, label)
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(fh)`` on a temp file beside ``path``, fsync, then ``os.replace`` it in.

    ``mkstemp`` creates files with mode 0600; the final file gets the usual 0666 & ~umask
    so that shared run tables stay readable by the team. OS errors (full disk, read-only
    file system, ...) raise :class:`StorageError` naming ``path``; the old file is untouched.
    """
    path = Path(path)
    with storage_errors(path):
        if path.is_dir():
            raise StorageError(f"{path}: is a directory, expected a file", str(path),
                               _errno.EISDIR)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda fh: fh.write(data))


def file_lock(path: str | os.PathLike, timeout: float | None = None, what: str = "file",
              on_wait: Callable[[], None] | None = None):
    """A :class:`filelock.FileLock` on ``path`` whose wait is bounded; acquiring it raises
    :class:`StorageError` with a clear message instead of ``filelock.Timeout``.
    ``on_wait()`` is called once if the lock is not free at once (to tell the user)."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(path), timeout=LOCK_TIMEOUT if timeout is None else timeout)

    @contextlib.contextmanager
    def _held():
        try:
            if on_wait is not None:
                try:
                    lock.acquire(timeout=0)
                except Timeout:
                    on_wait()
                    lock.acquire()
            else:
                lock.acquire()
        except Timeout:
            raise StorageError(
                f"{path}: could not lock the {what} within {lock.timeout:g} s (another "
                "process holds it, or the lock file cannot be created there; set "
                "DISTILLAW_LOCK_TIMEOUT to wait longer)", str(path)) from None
        except OSError as exc:
            raise os_error(exc, path, "cannot create lock file") from None
        try:
            yield lock
        finally:
            lock.release()

    return _held()


def _fsync_tree(folder: Path) -> None:
    for f in folder.iterdir():
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back for the two renames of a folder swap (microseconds), so
    an interrupt lands before or after it; SIGKILL cannot be held, which is what
    :func:`recover_dir` is for."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or not hasattr(
            signal, "pthread_sigmask"):
        yield  # handlers run in the main thread only; no signal masks on Windows
        return
    held = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _aside(path: Path) -> list[Path]:
    """Complete old copies of ``path`` set aside by an interrupted swap, newest first."""
    olds = [p for p in path.parent.glob(f".{path.name}.old-*") if p.is_dir()]
    return sorted(olds, key=lambda p: p.stat().st_mtime_ns, reverse=True)


def _swap_lock(path: Path, timeout: float | None = None):
    return file_lock(path.parent / f".{path.name}.lock", timeout, "folder for its swap")


def atomic_dir(path: str | os.PathLike, fill: Callable[[Path], None]) -> Path:
    """Write a folder atomically: ``fill(tmp)`` writes the files into a fresh sibling
    ``.NAME.new-XXXX``; then, under a lock, the old folder is renamed aside
    (``.NAME.old-XXXX``), the new one renamed in, and the old one deleted.

    A reader sees the old folder or the new one, never a mix of their files. A crash while
    filling leaves the old folder untouched (the ``.new-`` leftover is removed by the next
    save); a crash between the two renames leaves the complete old folder aside, which
    :func:`recover_dir` (called by readers) renames back.
    """
    path = Path(path)
    with storage_errors(path):
        if path.exists() and not path.is_dir():
            raise StorageError(f"{path}: exists and is not a folder", str(path),
                               _errno.ENOTDIR)
        path.parent.mkdir(parents=True, exist_ok=True)
        new = Path(tempfile.mkdtemp(prefix=f".{path.name}.new-", dir=path.parent))
        try:
            fill(new)
            os.chmod(new, 0o777 & ~_umask())
            _fsync_tree(new)
            with _swap_lock(path), _signals_held():
                _recover_locked(path)
                old = None
                if path.exists():
                    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
                    os.rename(path, old)  # onto the empty folder mkdtemp made: allowed
                os.rename(new, path)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise
        for stale in path.parent.glob(f".{path.name}.new-*"):
            # leftovers of saves killed while filling (never swapped in)
            if stale.is_dir() and _older_than(stale, 3600):
                shutil.rmtree(stale, ignore_errors=True)
    return path


def _older_than(p: Path, seconds: float) -> bool:
    import time

    try:
        return time.time() - p.stat().st_mtime > seconds
    except OSError:
        return False


def _recover_locked(path: Path) -> bool:
    if path.exists():
        for old in _aside(path):  # a swap finished but its old copy was not yet deleted
            shutil.rmtree(old, ignore_errors=True)
        return False
    olds = _aside(path)
    if not olds:
        return False
    os.rename(olds[0], path)
    for extra in olds[1:]:
        shutil.rmtree(extra, ignore_errors=True)
    return True


def recover_dir(path: str | os.PathLike) -> bool:
    """If a swap by :func:`atomic_dir` was killed between its renames, put the old folder
    back (under the swap lock, so a swap in progress is never mistaken for a crash).
    Returns True when it recovered something."""
    path = Path(path)
    if path.exists() or not _aside(path):
        return False
    with storage_errors(path, "cannot recover"), _swap_lock(path):
        return _recover_locked(path)


# ---------------------------------------------------------------------------- JSON
def _json_default(o: Any):
    import numpy as np

    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if hasattr(o, "__fspath__"):
        return os.fspath(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _check_finite(obj: Any, where: str = "") -> None:
    if isinstance(obj, float) and not math.isfinite(obj):
        raise DistillawError(f"output value {where or 'value'} is {obj}: not a number "
                             "(refusing to write NaN/inf)")
    if isinstance(obj, dict):
        for k, v in obj.items():
            _check_finite(v, f"{where}.{k}" if where else str(k))
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            _check_finite(v, f"{where}[{i}]")


def to_json(obj: Any, *, indent: int | None = 2, allow_nan: bool = False) -> str:
    """The one JSON encoder: NumPy scalars and arrays, paths; NaN/inf are an error (a
    :class:`DistillawError` naming the key) unless ``allow_nan`` (then written as null)."""
    plain = json.loads(json.dumps(obj, default=_json_default))
    if allow_nan:
        plain = _nan_to_none(plain)
    else:
        _check_finite(plain)
    return json.dumps(plain, indent=indent, allow_nan=False)


def _nan_to_none(obj: Any):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    return obj
