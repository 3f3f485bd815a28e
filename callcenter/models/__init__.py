"""All tables. Importing this package registers every model on ``Base.metadata``."""

from callcenter.models.base import Base
from callcenter.models.call_controls import CallTransfer, CallWrapUp, WrapUpCode
from callcenter.models.callbacks import CallbackAttempt, CallbackMiss
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
from callcenter.models.qa import QaAppeal, QaAssignment, QaComment, QaFlag, QaPlan, QaSample, QaScore, QaScorecard
from callcenter.models.surveys import SurveyAttempt, SurveyContact, SurveyPlan
from callcenter.models.reports import CallStatsHourly, CallStatsStaleHour, CallStatsState, KeptReport
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
    "Customer", "CustomerPhone", "KeptReport", "DayKind", "DutyShift", "Line", "LineKind", "Notification",
    "QaAppeal", "QaAssignment", "QaComment", "QaFlag", "QaPlan", "QaSample", "QaScore", "QaScorecard",
    "Queue", "QueueKind", "Role", "SurveyAttempt", "SurveyContact", "SurveyPlan", "SurveyRequest", "SurveyStatus",
    "Ticket", "TicketHistory", "TicketStatus", "TicketType", "Tier", "User",
    "CallStatsHourly", "CallStatsStaleHour", "CallStatsState",
    "CallTransfer", "CallWrapUp", "WrapUpCode", "CallbackAttempt", "CallbackMiss", "SpeechCheck", "Transcript",
]
