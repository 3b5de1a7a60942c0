from ._card import model_card as model_card
from ._compare import MetricDelta as MetricDelta
from ._compare import champion_uri as champion_uri
from ._compare import compare as compare
from ._evaluate import evaluate as evaluate
from ._records import FAIRNESS_METRICS as FAIRNESS_METRICS
from ._records import LATENCY_KEYS as LATENCY_KEYS
from ._records import METRICS as METRICS
from ._records import Evaluation as Evaluation
from ._repository import get_evaluation as get_evaluation
from ._repository import list_evaluations as list_evaluations

__all__: list[str]
