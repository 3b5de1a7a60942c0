from ._autolog import AutologWarning as AutologWarning
from ._autolog import autolog as autolog
from ._flavors import FLAVORS as FLAVORS
from ._flavors import Flavor as Flavor
from ._flavors import ModelContext as ModelContext
from ._flavors import register_flavor as register_flavor
from ._model import Model as Model
from ._model import load_model as load_model
from ._model import log_model as log_model
from ._package import ModelInfo as ModelInfo
from ._package import read_model_info as read_model_info
from ._package import save_model as save_model
from ._signature import ColumnSpec as ColumnSpec
from ._signature import OutputSpec as OutputSpec
from ._signature import Signature as Signature
from ._signature import SignatureWarning as SignatureWarning
from ._signature import infer_signature as infer_signature
from ._signature import to_frame as to_frame
from ._skops import skops_dumps as skops_dumps
from ._skops import skops_loads as skops_loads

__all__: list[str]
