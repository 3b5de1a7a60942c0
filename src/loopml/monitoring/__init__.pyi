from ._alerts import get_alert as get_alert
from ._alerts import list_alerts as list_alerts
from ._config import METHODS as METHODS
from ._config import THRESHOLDS as THRESHOLDS
from ._config import ColumnConfig as ColumnConfig
from ._config import DriftConfig as DriftConfig
from ._detect import detect_drift as detect_drift
from ._profile import FeatureProfile as FeatureProfile
from ._profile import ReferenceProfile as ReferenceProfile
from ._profile import profile_reference as profile_reference
from ._report import ColumnDrift as ColumnDrift
from ._report import ColumnSummary as ColumnSummary
from ._report import DriftReport as DriftReport
from ._report import Histogram as Histogram
from ._report import MultivariateDrift as MultivariateDrift
from ._store import load_profile as load_profile

__all__: list[str]
