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

__all__: list[str]
