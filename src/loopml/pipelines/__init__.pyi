from ._decorators import Pipeline as Pipeline
from ._decorators import Step as Step
from ._decorators import pipeline as pipeline
from ._decorators import step as step
from ._executors import connect_ray as connect_ray
from ._graph import StepOutput as StepOutput
from ._loading import forget_changed_modules as forget_changed_modules
from ._loading import load_pipeline as load_pipeline
from ._loading import run_pipeline as run_pipeline
from ._materializers import Materializer as Materializer
from ._materializers import register_materializer as register_materializer
from ._records import PipelineFailed as PipelineFailed
from ._records import PipelineRun as PipelineRun
from ._records import StepRun as StepRun
from ._records import load_pipeline_run as load_pipeline_run
from ._runner import StepEvent as StepEvent
from ._runner import StepState as StepState
from .tuning._records import Study as Study
from .tuning._records import Trial as Trial
from .tuning._records import TrialState as TrialState
from .tuning._space import Distribution as Distribution
from .tuning._tune import load_study as load_study
from .tuning._tune import tune as tune

__all__: list[str]
