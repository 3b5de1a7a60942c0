"""Lineage: the URI registry and the graph of what came from what.

Every object loopml keeps is a node named by a URI (``data:/iris@3``,
``runs:/<id>``, ``validation:/<id>``...); edges say which produced or used
which. ``get_lineage`` walks them both ways, and :func:`resolve` opens any
node the graph holds through the URI registry (:mod:`loopml.lineage._registry`).
"""

from loopml._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
