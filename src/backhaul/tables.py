"""Import every feature's tables so that Base.metadata is complete (migrations, tests)."""

from backhaul.accounts import models as accounts_models
from backhaul.catalog import models as catalog_models
from backhaul.db import Base
from backhaul.kit import audit, exception_queue, idempotency, outbox
from backhaul.planning import models as planning_models
from backhaul.processing import models as processing_models
from backhaul.returns import models as returns_models
from backhaul.units import models as units_models

metadata = Base.metadata
__all__ = [
    "accounts_models",
    "audit",
    "catalog_models",
    "exception_queue",
    "idempotency",
    "metadata",
    "outbox",
    "planning_models",
    "processing_models",
    "returns_models",
    "units_models",
]
