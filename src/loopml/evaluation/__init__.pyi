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
from ._reproduce import MetricComparison as MetricComparison
from ._reproduce import Reproduction as Reproduction
from ._reproduce import ReproductionStatus as ReproductionStatus
from ._reproduce import list_reproductions as list_reproductions
from ._reproduce import reproduce as reproduce

__all__: list[str]
