from ._evaluate import evaluate as evaluate
from ._gates import GateCheck as GateCheck
from ._gates import GateOptions as GateOptions
from ._gates import Gates as Gates
from ._gates import GateStatus as GateStatus
from ._gates import check_gates as check_gates
from ._gates import read_gates as read_gates
from ._promote import approve as approve
from ._promote import get_promotion as get_promotion
from ._promote import list_promotions as list_promotions
from ._promote import promote as promote
from ._promote import reject as reject
from ._promotion import Promotion as Promotion
from ._promotion import PromotionStatus as PromotionStatus
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
