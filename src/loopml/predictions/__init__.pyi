from ._format import FIXED as FIXED
from ._format import INPUT_PREFIX as INPUT_PREFIX
from ._format import PROBA_PREFIX as PROBA_PREFIX
from ._privacy import Privacy as Privacy
from ._reader import OutcomeCounter as OutcomeCounter
from ._reader import Outcomes as Outcomes
from ._reader import feedback_files as feedback_files
from ._reader import log_feedback as log_feedback
from ._reader import prune as prune
from ._reader import read_predictions as read_predictions
from ._records import FeedbackRecord as FeedbackRecord
from ._records import PredictionRecord as PredictionRecord
from ._records import PredictionStatus as PredictionStatus
from ._records import check_deployment as check_deployment
from ._writer import PredictionLogger as PredictionLogger

__all__: list[str]
