from ._app import create_app as create_app
from ._hosted import Hosted as Hosted
from ._server import exposure as exposure
from ._server import run as run
from ._server import serve as serve
from ._server import serve_options as serve_options

__all__: list[str]
