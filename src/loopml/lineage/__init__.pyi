from ._graph import Edge as Edge
from ._graph import Lineage as Lineage
from ._graph import LineageNode as LineageNode
from ._graph import add_edge as add_edge
from ._graph import downstream as downstream
from ._graph import get_lineage as get_lineage
from ._graph import resolve as resolve
from ._graph import upstream as upstream
from ._registry import SCHEMES as SCHEMES
from ._registry import Node as Node
from ._registry import Scheme as Scheme

__all__: list[str]
