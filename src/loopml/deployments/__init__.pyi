from ._api import changes_since as changes_since
from ._api import current_generation as current_generation
from ._api import declared_deployments as declared_deployments
from ._api import delete_deployment as delete_deployment
from ._api import deploy as deploy
from ._api import deployment_history as deployment_history
from ._api import get_deployment as get_deployment
from ._api import list_deployments as list_deployments
from ._api import sync_deployments as sync_deployments
from ._records import Deployment as Deployment
from ._records import DeploymentAction as DeploymentAction
from ._records import DeploymentChange as DeploymentChange
from ._records import DeploymentStatus as DeploymentStatus
from ._records import ServingConfig as ServingConfig
from ._records import Strategy as Strategy

__all__: list[str]
