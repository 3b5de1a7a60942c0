from ._api import archive_model_version as archive_model_version
from ._api import delete_alias as delete_alias
from ._api import delete_model_version as delete_model_version
from ._api import environments as environments
from ._api import get_model_package as get_model_package
from ._api import get_model_version as get_model_version
from ._api import list_models as list_models
from ._api import model_history as model_history
from ._api import promote_model as promote_model
from ._api import register_model as register_model
from ._api import search_model_versions as search_model_versions
from ._api import set_alias as set_alias
from ._records import ModelStatus as ModelStatus
from ._records import ModelVersion as ModelVersion
from ._records import RegisteredModel as RegisteredModel
from ._records import Transition as Transition
from ._repository import lock_version as lock_version

__all__: list[str]
