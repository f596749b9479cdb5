"""Typed exceptions. The CLI turns each into a one-line message and exit code 2."""

from __future__ import annotations


class DistillawError(Exception):
    """Base class for every error distillaw raises on bad input or a failed check."""


class RunTableError(DistillawError, ValueError):
    """A run table (CSV/Parquet/DataFrame) failed validation.

    The message names the file, the row and the column, so a user can open the file at
    the right place. ``row`` is the 1-based data row (the header is not a row); for CSV
    files the message also gives the line number.
    """

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 column: str | None = None, line: int | None = None):
        self.file = file
        self.row = row
        self.line = line
        self.column = column
        self.reason = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.row is not None:
            where.append(f"row {self.row}" + (f" (line {self.line})" if self.line else ""))
        if self.column is not None:
            where.append(f"column '{self.column}'")
        return (", ".join(where) + ": " if where else "") + self.reason


class FormatError(DistillawError, ValueError):
    """A public data file could not be recognised or parsed in the requested format."""


class PriorError(DistillawError, KeyError):
    """Unknown prior name or invalid prior override."""

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0]) if self.args else ""


class ModelError(DistillawError, ValueError):
    """A model cannot be built from the given data/spec."""


class DiagnosticsError(DistillawError, RuntimeError):
    """Sampler diagnostics failed their thresholds (divergences, r_hat, ESS)."""


class PosteriorError(DistillawError, ValueError):
    """A saved posterior is missing, unreadable or lacks what a request needs."""


class DecisionError(DistillawError, ValueError):
    """An allocation request is invalid (budget, scenario, risk measure, bounds)."""


class PlanningError(DistillawError, ValueError):
    """A planning request is invalid (pool, target, budget)."""


class StorageError(DistillawError, OSError):
    """A file or folder could not be read, written or locked (read-only file system, full
    disk, permission, a directory where a file is expected, a name too long, a lock held too
    long). The message names the path; it is also an :class:`OSError` so callers that catch
    OS errors keep working."""

    def __init__(self, message: str, path: str | None = None, errno: int | None = None):
        super().__init__(message)
        self.path = path
        self.errno = errno
        self.filename = path

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class InterruptedFit(DistillawError, RuntimeError):
    """A fit was interrupted (Ctrl-C) or returned fewer draws than asked; nothing was saved.

    Raised in place of the ``KeyboardInterrupt`` (so it reaches the caller as a typed error
    through any framework that swallows Ctrl-C); the CLI exits with 130."""
