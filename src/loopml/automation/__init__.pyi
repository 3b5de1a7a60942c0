from ._automate import FAILED_RULE as FAILED_RULE
from ._automate import REFUSED_RULE as REFUSED_RULE
from ._automate import ROLLED_BACK_RULE as ROLLED_BACK_RULE
from ._automate import automate as automate
from ._automate import check_triggers as check_triggers
from ._automate import list_events as list_events
from ._automate import trigger_status as trigger_status
from ._predict import BatchPrediction as BatchPrediction
from ._predict import predict_batch as predict_batch
from ._records import AutomateReport as AutomateReport
from ._records import EventStatus as EventStatus
from ._records import Trigger as Trigger
from ._records import TriggerEvent as TriggerEvent
from ._records import TriggerKind as TriggerKind
from ._records import TriggerState as TriggerState
from ._register import Registration as Registration
from ._register import check_registration as check_registration
from ._register import register_best_trial as register_best_trial
from ._register import register_step_model as register_step_model
from ._register import run_and_register as run_and_register
from ._register import tune_and_register as tune_and_register
from ._triggers import read_triggers as read_triggers

__all__: list[str]
