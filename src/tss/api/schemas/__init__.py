"""The REST API's wire shapes, shared by the server and :mod:`tss.client`, one module per
noun (:mod:`~tss.api.schemas.jobs`, :mod:`~tss.api.schemas.runs`, :mod:`~tss.api.schemas.flows`,
:mod:`~tss.api.schemas.admin`, :mod:`~tss.api.schemas.figures`; the shared pieces in
:mod:`~tss.api.schemas.base`), every name re-exported here.

Only pydantic here (no FastAPI), so the client can import it without the server's
dependencies. Inputs forbid unknown keys; outputs are the core records themselves or read
from them with the ``of`` constructors.
"""

from __future__ import annotations

from tss.api.schemas.admin import (
    WORKER_OUT,
    TokenCreated,
    TokenIn,
    TokenOut,
    TokenPage,
    WorkerOut,
    WorkerPage,
    WorkerStatusIn,
)
from tss.api.schemas.alerts import (
    AlertOut,
    AlertPage,
    AlertTestIn,
    SilenceIn,
    SilenceOut,
    SilencePage,
)
from tss.api.schemas.base import (
    MAX_APPLY,
    MAX_TRIGGER_COUNT,
    RECORD_OUT,
    ErrorBody,
    ErrorDetail,
    FromRecord,
    PoolName,
    StrictIn,
    Timestamp,
    TypeName,
    fields_of,
)
from tss.api.schemas.figures import (
    JobHealth,
    JobHealthOut,
    LatenessOut,
    LatePoint,
    PoolQueue,
    QueuesOut,
    StatsOut,
    ThroughputPoint,
)
from tss.api.schemas.flows import (
    EdgeOut,
    FlowGraphOut,
    FlowPage,
    FlowRunOut,
    FlowSummaryOut,
    NodeOut,
)
from tss.api.schemas.jobs import (
    AppliedJob,
    ApplyIn,
    ApplyOut,
    JobOut,
    JobPage,
    NextFires,
    RunBrief,
    TriggerIn,
)
from tss.api.schemas.runs import (
    EVENT_OUT,
    RUN_OUT,
    AttemptOut,
    ErrorInfoOut,
    EventOut,
    EventPage,
    LogsOut,
    RunOut,
    RunPage,
    TriggeredRuns,
)

__all__ = [
    "EVENT_OUT",
    "MAX_APPLY",
    "MAX_TRIGGER_COUNT",
    "RECORD_OUT",
    "RUN_OUT",
    "WORKER_OUT",
    "AlertOut",
    "AlertPage",
    "AlertTestIn",
    "AppliedJob",
    "ApplyIn",
    "ApplyOut",
    "AttemptOut",
    "EdgeOut",
    "ErrorBody",
    "ErrorDetail",
    "ErrorInfoOut",
    "EventOut",
    "EventPage",
    "FlowGraphOut",
    "FlowPage",
    "FlowRunOut",
    "FlowSummaryOut",
    "FromRecord",
    "JobHealth",
    "JobHealthOut",
    "JobOut",
    "JobPage",
    "LatePoint",
    "LatenessOut",
    "LogsOut",
    "NextFires",
    "NodeOut",
    "PoolName",
    "PoolQueue",
    "QueuesOut",
    "RunBrief",
    "RunOut",
    "RunPage",
    "SilenceIn",
    "SilenceOut",
    "SilencePage",
    "StatsOut",
    "StrictIn",
    "ThroughputPoint",
    "Timestamp",
    "TokenCreated",
    "TokenIn",
    "TokenOut",
    "TokenPage",
    "TriggerIn",
    "TriggeredRuns",
    "TypeName",
    "WorkerOut",
    "WorkerPage",
    "WorkerStatusIn",
    "fields_of",
]
