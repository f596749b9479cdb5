"""Sphinx extension: ``.. distillaw-cli::`` renders every command's ``--help`` at build time.

The CLI reference is the text the commands print (the typer/click objects walked from the
application, so a new command appears without editing the docs). The width is fixed at 100
columns so the page does not depend on the terminal that builds it.
"""

from __future__ import annotations

import os

from docutils import nodes
from docutils.parsers.rst import Directive

WIDTH = 100


def _commands(group, path):
    """(path, command) for the group and every sub-command, depth first, in declared order."""
    yield path, group
    for name in getattr(group, "commands", {}):
        sub = group.commands[name]
        if getattr(sub, "hidden", False):
            continue
        yield from _commands(sub, [*path, name])


def help_texts() -> list[tuple[str, str]]:
    """``[("distillaw fit", "<help text>"), ...]`` for every command of the CLI."""
    import typer.main

    from distillaw.cli import app

    os.environ["COLUMNS"] = str(WIDTH)
    root = typer.main.get_command(app)
    out = []
    for path, cmd in _commands(root, ["distillaw"]):
        # The context chain makes usage lines read "distillaw fit [OPTIONS] ...". typer
        # vendors click, so contexts come from each command's own context_class.
        ctx, node = None, root
        for i, name in enumerate(path):
            node = node.commands[name] if i else root
            ctx = node.context_class(node, info_name=name, parent=ctx,
                                     max_content_width=WIDTH, terminal_width=WIDTH)
        out.append((" ".join(path), cmd.get_help(ctx)))
    return out


class DistillawCli(Directive):
    has_content = False

    def run(self):
        result = []
        for title, text in help_texts():
            anchor = nodes.make_id(title)
            sec = nodes.section(ids=[anchor], names=[nodes.fully_normalize_name(title)])
            sec += nodes.title(text=title)
            sec += nodes.literal_block(text, text, language="text")
            result.append(sec)
        return result


def setup(app):
    app.add_directive("distillaw-cli", DistillawCli)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
