"""The Typer application object shared by the sub-command modules."""

import typer

app = typer.Typer(
    name="distillaw",
    help="Bayesian scaling laws for knowledge distillation: fit, predict, report, plan, run.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
data_app = typer.Typer(help="Validate, import and simulate run tables.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _print_version(value: bool) -> None:
    if value:
        from .._version import __version__

        typer.echo(f"distillaw {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_print_version,
                                          is_eager=True, help="Print the version and exit.")
             ) -> None:
    """Bayesian scaling laws for knowledge distillation: fit, predict, report, plan, run."""
