"""``loopml lineage URI``: where something came from and what came of it."""

from __future__ import annotations

import typer

from loopml.cli import _options
from loopml.cli._output import console


def lineage(
    uri: str = typer.Argument(
        ..., metavar="URI", help="data:/NAME@VERSION, runs:/ID, models:/NAME/VERSION ..."
    ),
    depth: int = typer.Option(
        10, "--depth", metavar="N", min=1, help="How many edges to follow each way."
    ),
    tracking_uri: str | None = _options.tracking_uri(),
    artifact_uri: str | None = _options.artifact_uri(),
) -> None:
    """Print the lineage tree of URI: upstream (what made it) and downstream (what it made).

    A direction with nothing in it is left out.
    """
    _options.use_stores(tracking_uri, artifact_uri)
    from rich.markup import escape
    from rich.tree import Tree

    from loopml.lineage import LineageNode, get_lineage

    result = get_lineage(uri, depth=depth)

    def name(uri: str) -> str:
        label = result.labels.get(uri)
        return f"{escape(uri)} [cyan]{escape(label)}[/]" if label else escape(uri)

    def build(tree: Tree, node: LineageNode) -> None:
        for child in node.children:
            build(tree.add(f"[dim]{escape(child.relation or '')}[/] {name(child.uri)}"), child)

    shown = False
    for root, arrow in (
        (result.upstream, "← upstream (what it came from)"),
        (result.downstream, "→ downstream (what came from it)"),
    ):
        if not root.children:
            continue
        tree = Tree(f"[bold]{name(result.uri)}[/] [dim]{arrow}[/]")
        build(tree, root)
        console.print(tree)
        shown = True
    if not shown:
        console.print(
            f"[bold]{name(result.uri)}[/] [dim]: nothing upstream or downstream yet[/]",
            highlight=False,
        )
