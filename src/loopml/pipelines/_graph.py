"""The pipeline graph: nodes (step calls), their arguments and the order to run them.

While a pipeline function runs under :func:`building`, calling a step does
not run it: it adds a :class:`Node` and returns a :class:`StepOutput`
placeholder, which later step calls take as an argument. Each placeholder
in a node's arguments is a dependency. :meth:`Graph.order` sorts the nodes
so every node comes after the nodes it depends on, and refuses cycles and
placeholders that belong to no node of this graph.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.errors import InvalidInput

if TYPE_CHECKING:
    from loopml.pipelines._decorators import Step

__all__ = ["Graph", "Node", "StepOutput", "building", "current_graph", "placeholders_in"]


_ids: Iterator[int] = itertools.count(1)


class StepOutput:
    """The future output of a step call inside a pipeline: pass it to other steps.

    It has no value while the pipeline is being described; the runner
    replaces it with the step's output when it runs the steps that take it.
    A step with several outputs returns a tuple of these, one per output
    (``output`` names which).
    """

    __slots__ = ("graph_id", "node", "output")

    def __init__(self, graph_id: int, node: str, output: str = "output") -> None:
        self.graph_id = graph_id
        self.node = node
        self.output = output

    def __repr__(self) -> str:
        if self.output == "output":
            return f"StepOutput({self.node!r})"
        return f"StepOutput({self.node!r}, {self.output!r})"

    def __bool__(self) -> bool:
        raise InvalidInput(
            f"the output of step {self.node!r} has no value while the pipeline is described, "
            "so it cannot be tested with if/and/or. Move the decision into a step."
        )

    def __iter__(self) -> Iterator[Any]:
        raise InvalidInput(
            f"the output of step {self.node!r} cannot be unpacked or iterated in the "
            "pipeline body: the step has one output. To return several, annotate the step "
            "with a fixed tuple (-> tuple[pd.DataFrame, pd.DataFrame]) or name them with "
            "@loopml.step(outputs=('train', 'test'))."
        )


@dataclass
class Node:
    """One step call: its unique name in the pipeline, the step, and its bound arguments."""

    name: str
    step: Step
    arguments: dict[str, Any]
    depends_on: list[str] = field(default_factory=list)

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.step.outputs


@dataclass
class Graph:
    """The step calls of one pipeline run, in the order they were made."""

    id: int = field(default_factory=lambda: next(_ids))
    nodes: dict[str, Node] = field(default_factory=dict)

    def add(self, step: Step, arguments: dict[str, Any]) -> StepOutput | tuple[StepOutput, ...]:
        name = step.name
        n = 2
        while name in self.nodes:
            name = f"{step.name}_{n}"
            n += 1
        deps = []
        for found in placeholders_in(arguments):
            if found.graph_id != self.id or found.node not in self.nodes:
                raise InvalidInput(
                    f"step {name!r} takes the output of step {found.node!r}, which is not "
                    "part of this pipeline run. Pass outputs only between steps called in "
                    "the same pipeline function."
                )
            if found.node not in deps:
                deps.append(found.node)
        self.nodes[name] = Node(name, step, arguments, deps)
        if step.multiple:
            return tuple(StepOutput(self.id, name, out) for out in step.outputs)
        return StepOutput(self.id, name)

    def order(self) -> list[Node]:
        """The nodes, each after its dependencies (call order among independent ones)."""
        missing = [
            (node.name, dep)
            for node in self.nodes.values()
            for dep in node.depends_on
            if dep not in self.nodes
        ]
        if missing:
            name, dep = missing[0]
            raise InvalidInput(
                f"step {name!r} needs the output of {dep!r}, which is not a step of this "
                f"pipeline (steps: {', '.join(self.nodes) or 'none'})."
            )
        done: dict[str, None] = {}
        visiting: list[str] = []

        def visit(name: str) -> None:
            if name in done:
                return
            if name in visiting:
                cycle = [*visiting[visiting.index(name) :], name]
                raise InvalidInput(
                    f"the pipeline has a cycle: {' -> '.join(cycle)}. A step cannot take "
                    "its own output, directly or through other steps."
                )
            visiting.append(name)
            for dep in self.nodes[name].depends_on:
                visit(dep)
            visiting.pop()
            done[name] = None

        for name in self.nodes:
            visit(name)
        return [self.nodes[name] for name in done]


def placeholders_in(value: Any) -> Iterator[StepOutput]:
    """Every :class:`StepOutput` in ``value`` (looking inside lists, tuples and dicts)."""
    if isinstance(value, StepOutput):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from placeholders_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from placeholders_in(item)


def substitute(value: Any, resolve: Callable[[StepOutput], Any]) -> Any:
    """``value`` with every placeholder ``p`` replaced by ``resolve(p)``."""
    if isinstance(value, StepOutput):
        return resolve(value)
    if isinstance(value, list):
        return [substitute(v, resolve) for v in value]
    if isinstance(value, tuple):
        return tuple(substitute(v, resolve) for v in value)
    if isinstance(value, dict):
        return {k: substitute(v, resolve) for k, v in value.items()}
    return value


_current: contextvars.ContextVar[Graph | None] = contextvars.ContextVar(
    "loopml_pipeline_graph", default=None
)


def current_graph() -> Graph | None:
    """The graph being described in this context, or None outside a pipeline body."""
    return _current.get()


@contextlib.contextmanager
def building(graph: Graph) -> Iterator[Graph]:
    """Make step calls in this block add nodes to ``graph``."""
    token = _current.set(graph)
    try:
        yield graph
    finally:
        _current.reset(token)
