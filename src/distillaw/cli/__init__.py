"""Command-line interface: ``distillaw data|fit|predict|compare|report|plan|run|backtest``.

Bad input never shows a traceback: every :class:`~distillaw.errors.DistillawError` and every
usage error becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from .._io import os_error
from ..errors import DistillawError, InterruptedFit
from . import data_cmd  # noqa: F401  (registers commands)
from ._app import app

# Sub-command modules, each owned by one part of the package. They register on import.
_COMMAND_MODULES = ("fit_cmd", "report_cmd", "plan_cmd", "run_cmd", "backtest_cmd",
                    "compare_cmd")


def _register() -> None:
    from importlib import import_module

    for name in _COMMAND_MODULES:
        import_module(f"{__name__}.{name}")


_register()


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``distillaw`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rv = app(args=args, prog_name="distillaw", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        sys.stderr.write("aborted\n")
        return 130
    except typer.TyperException as exc:  # usage errors (typer vendors click)
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare command: show its help
            sys.stdout.write(exc.ctx.get_help() + "\n")
            return 0
        fmt = getattr(exc, "format_message", None)
        msg = (fmt() if fmt else str(exc)).replace("\n", " ")
        sys.stderr.write(f"error: {msg} (see --help)\n")
        return 2
    except InterruptedFit as exc:  # Ctrl-C in a fit: nothing saved, the old output intact
        sys.stderr.write(f"interrupted: {_first_line(exc)}\n")
        return 130
    except DistillawError as exc:
        sys.stderr.write(f"error: {_first_line(exc)}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except OSError as exc:  # read-only FS, full disk, permission, ...: one line, naming the path
        sys.stderr.write(f"error: {os_error(exc, action='cannot read or write')}\n")
        return 2
    if rv == 130:  # typer turns Ctrl-C into a return value of 130
        sys.stderr.write("interrupted\n")
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
