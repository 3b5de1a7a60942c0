from ._predict import BatchPrediction as BatchPrediction
from ._predict import predict_batch as predict_batch
from ._register import Registration as Registration
from ._register import check_registration as check_registration
from ._register import register_best_trial as register_best_trial
from ._register import register_step_model as register_step_model
from ._register import run_and_register as run_and_register
from ._register import tune_and_register as tune_and_register

__all__: list[str]
