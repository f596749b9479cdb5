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
