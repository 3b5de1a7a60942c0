from ._api import infer_suite as infer_suite
from ._api import validate as validate
from ._result import CheckResult as CheckResult
from ._result import CheckStatus as CheckStatus
from ._result import ValidationResult as ValidationResult
from ._suite import Check as Check
from ._suite import Suite as Suite
from ._suite import expect_column_type as expect_column_type
from ._suite import expect_column_values_between as expect_column_values_between
from ._suite import expect_column_values_in_set as expect_column_values_in_set
from ._suite import expect_column_values_not_null as expect_column_values_not_null
from ._suite import expect_column_values_unique as expect_column_values_unique
from ._suite import expect_columns as expect_columns
from ._suite import expect_row_count_between as expect_row_count_between

__all__: list[str]
