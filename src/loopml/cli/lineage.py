"""``loopml lineage URI``: where something came from and what came of it."""

from __future__ import annotations

import typer

from loopml.cli._output import console


def lineage(
    uri: str = typer.Argument(..., help="data:/name@version, runs:/<id>, models:/name/version"),
    depth: int = typer.Option(10, "--depth", min=1, help="How many edges to follow each way."),
) -> None:
    """Print the lineage tree of URI: upstream (what made it) and downstream (what it made)."""
    from rich.markup import escape
    from rich.tree import Tree

    from loopml.lineage import LineageNode, get_lineage

    result = get_lineage(uri, depth=depth)

    def name(uri: str) -> str:
        label = result.labels.get(uri)
        return f"{escape(uri)} [cyan]{escape(label)}[/]" if label else escape(uri)

    def build(tree: Tree, node: LineageNode) -> None:
        for child in node.children:
            build(tree.add(f"[dim]{child.relation}[/] {name(child.uri)}"), child)

    up = Tree(f"[bold]{name(result.uri)}[/] [dim]← upstream (what it came from)[/]")
    build(up, result.upstream)
    down = Tree(f"[bold]{name(result.uri)}[/] [dim]→ downstream (what came from it)[/]")
    build(down, result.downstream)
    console.print(up)
    console.print(down)
