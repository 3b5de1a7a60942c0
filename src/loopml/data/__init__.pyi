from ._checkout import checkout as checkout
from ._checkout import status as status
from ._datasets import add_dataset as add_dataset
from ._datasets import dataset_versions as dataset_versions
from ._datasets import get_dataset as get_dataset
from ._datasets import list_datasets as list_datasets
from ._datasets import resolve_dataset as resolve_dataset
from ._diff import diff_versions as diff_versions
from ._lock import LockEntry as LockEntry
from ._lock import read_lock as read_lock
from ._records import CheckoutResult as CheckoutResult
from ._records import ColumnProfile as ColumnProfile
from ._records import CopyState as CopyState
from ._records import DatasetDiff as DatasetDiff
from ._records import DatasetProfile as DatasetProfile
from ._records import DatasetStatus as DatasetStatus
from ._records import DatasetVersion as DatasetVersion
from ._records import FileChange as FileChange
from ._records import ManifestEntry as ManifestEntry
from ._records import SchemaChange as SchemaChange
from ._records import TableProfile as TableProfile
from ._records import TransferReport as TransferReport
from ._remote import pull as pull
from ._remote import push as push
from ._resolve import DatasetNotice as DatasetNotice
from ._resolve import Resolution as Resolution

__all__: list[str]
