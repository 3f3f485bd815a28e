"""All tables. Importing this package registers every model on ``Base.metadata``."""

from callcenter.models.base import Base
from callcenter.models.calls import (
    Call,
    CallAgentLeg,
    CallbackReason,
    CallbackStatus,
    CallbackTask,
    CallStatus,
    CdrCursor,
)
from callcenter.models.customers import Customer, CustomerPhone, Tier
from callcenter.models.lines import (
    BusinessHours,
    CalendarOverride,
    DayKind,
    DutyShift,
    Line,
    LineKind,
    Queue,
    QueueKind,
)
from callcenter.models.qa import QaFlag
from callcenter.models.speech import SpeechCheck, Transcript
from callcenter.models.tickets import (
    AuditEntry,
    Notification,
    SurveyRequest,
    SurveyStatus,
    Ticket,
    TicketHistory,
    TicketStatus,
    TicketType,
)
from callcenter.models.users import AgentState, AgentStatus, Role, User

__all__ = [
    "AgentState", "AgentStatus", "AuditEntry", "Base", "BusinessHours", "CalendarOverride",
    "Call", "CallAgentLeg", "CallStatus", "CallbackReason", "CallbackStatus", "CallbackTask", "CdrCursor",
    "Customer", "CustomerPhone", "DayKind", "DutyShift", "Line", "LineKind", "Notification",
    "QaFlag", "Queue", "QueueKind", "Role", "SpeechCheck", "SurveyRequest", "SurveyStatus",
    "Ticket", "TicketHistory", "TicketStatus", "TicketType", "Tier", "Transcript", "User",
]
