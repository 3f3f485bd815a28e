"""The one configuration object every callcenter process reads.

Sources, strongest first:
  1. ``CALLCENTER_*`` environment variables (``CALLCENTER_DATABASE_URL``,
     ``CALLCENTER_AGI_PORT`` ...);
  2. a TOML file: the path in ``CALLCENTER_CONFIG``, else ``./callcenter.toml`` when
     it exists (flat keys, the same names as below in lower case);
  3. the defaults below, which run the whole system on one machine with SQLite in
     the working directory and FastAGI on 127.0.0.1:4573.

``get_settings()`` caches the object per process; tests build their own
``Settings(...)`` and pass it explicitly.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = "callcenter.toml"


def _config_file() -> Path | None:
    explicit = os.environ.get("CALLCENTER_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise FileNotFoundError(f"CALLCENTER_CONFIG names {path}, which is not a file")
        return path
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLCENTER_", extra="forbid")

    # --- storage -------------------------------------------------------------
    database_url: str = "sqlite:///callcenter.db"
    recordings_dir: Path = Path("recordings")
    timezone: str = "Asia/Shanghai"
    # Country used to read national-format caller IDs (e.g. 010 6552 9988).
    phone_region: str = "CN"

    # --- FastAGI ---------------------------------------------------------------
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    # Asterisk gives up on a FastAGI connect after 2 s; a deep accept queue keeps
    # a burst of calls from piling up in SYN cookies.
    agi_backlog: int = 1024
    # Every route answers within this budget, whatever the database is doing.
    agi_route_budget_s: float = 1.5
    # While the FastAGI event loop runs this far behind its clock, new database work is
    # shed: those calls get their fallback route at once instead of waiting in line.
    agi_overload_lag_s: float = Field(default=0.25, gt=0)
    # A peer that sends nothing for this long is dropped (stalled or a port scan).
    agi_header_timeout_s: float = 5.0
    agi_command_timeout_s: float = 30.0
    # The dialplan bounds each AGI by this many seconds (AGI_GUARD_S in extensions.conf)
    # and the callcenter moves the limit while it plays a menu or takes a message; a
    # frozen callcenter then costs a caller this much silence. 0: no limit is kept up.
    agi_guard_s: float = Field(default=6.0, ge=0)
    # Database threads of a FastAGI server process; 0 = per engine: 2 on SQLite (one
    # writer at a time, short queries), 8 on PostgreSQL (network round trips overlap).
    agi_db_threads: int = Field(default=0, ge=0)
    # The FastAGI server's event loop: "auto" = uvloop when installed, else asyncio's own.
    agi_event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"

    # --- routing -------------------------------------------------------------------
    vip_queue: str = "vip"
    default_queue: str = "general_q"
    priority_vip: int = 10
    priority_raised: int = 5
    priority_normal: int = 0
    repeat_window_hours: float = 24.0
    repeat_min_calls: int = 1
    # A swapped working weekend day (调休) keeps the opening hours of this weekday (0 = Monday).
    swapped_workday_hours_weekday: int = Field(default=0, ge=0, le=6)
    ivr_flows_dir: Path = Path("ivr_flows")
    prompts_dir: Path = Path("recordings/prompts")
    # Records the database refused are kept here until it takes them (callcenter/agi/recorder.py).
    journal_dir: Path = Path("instance/journal")

    # --- AMI ---------------------------------------------------------------------
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_username: str = "callcenter"
    ami_secret: str = "CHANGE-ME"
    ami_reconnect_max_s: float = 30.0
    # Queue-level wrapuptime (queues.conf) is not reported by AMI: the same value here.
    ami_wrapup_s: float = 15.0
    # The listener compares its open calls with what Asterisk has this often (and after
    # every reconnect), and reads Asterisk's CDR file for the calls it did not follow.
    ami_reconcile_interval_s: float = Field(default=60.0, gt=0)
    # Asterisk's CDR store (asterisk_conf/cdr_custom.conf): the calls that happened while
    # the callcenter was down are backfilled from it. Not there: no backfill.
    asterisk_cdr_csv: Path = Path("/var/log/asterisk/cdr-custom/callcenter.csv")

    # --- web panel -----------------------------------------------------------------
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    web_threads: int = 64
    # Reverse proxies in front of the panel (nginx …) whose X-Forwarded-For and
    # X-Forwarded-Proto are believed, counted from the panel outwards. 0: none - the
    # client is the connection's peer and those headers are ignored (anyone can send them).
    web_proxy_hops: int = Field(default=0, ge=0)
    secret_key: str = Field(default="", repr=False)
    session_minutes: int = 480
    login_max_failures: int = 5
    login_lockout_s: int = 300
    # Roles that see full phone numbers; everyone else sees 138****8000.
    unmasked_roles: Annotated[list[str], NoDecode] = ["agent", "supervisor", "admin"]

    # --- event bus -------------------------------------------------------------------
    bus: Literal["inproc", "redis"] = "inproc"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Redis channel prefix of this installation ("" = derived from database_url): pub/sub
    # ignores the database index, so two installations on one Redis must differ here.
    bus_prefix: str = ""

    # --- ticket deadlines (REQUIREMENTS.md; hours unless said) ---------------------------
    deadline_urgent_hours: float = 2.0
    deadline_non_urgent_working_days: int = 2
    deadline_own_remit_same_day: bool = True
    deadline_other_department_days: int = 3
    deadline_department_response_hours: float = 8.0
    deadline_invalid_complaint_working_days: int = 1
    deadline_repair_onsite_hours: float = 8.0
    deadline_repair_plan_days: int = 2
    deadline_suggestion_working_days: int = 2
    escalation_sweep_s: int = 60
    # 回访: follow-up call due this many days after closing (REQUIREMENTS "Follow-up calls").
    survey_due_days: int = 3
    survey_repair_due_days: int = 2
    callback_due_hours: float = 2.0

    # --- quality assurance (质检): recordings, sampling, scoring ---------------------------
    # Recordings older than this are deleted by `callcenter recordings purge` and the
    # scheduler's recordings_purge job, except calls under review or appeal.
    recording_retention_days: int = Field(default=365, ge=1)
    recordings_purge_interval_s: int = Field(default=6 * 3600, gt=0)
    # An agent may appeal (申诉) a score for this many days after it was submitted.
    qa_appeal_days: int = Field(default=7, ge=0)
    # The scheduler draws the next sample of every active plan this often (a period is
    # drawn once: later runs in the same period do nothing).
    qa_draw_interval_s: int = Field(default=3600, gt=0)
    # --- follow-up survey calls (回访; callcenter/services/surveys) ----------------------
    # When customers may be called (local time, working days of the business calendar);
    # a customer's preferred time (survey_contacts) wins over these.
    survey_windows: str = "09:00-12:00,14:00-20:00"
    # At most one survey call per customer (number) in this many days.
    survey_customer_period_days: float = Field(default=7.0, ge=0)
    # Pacing: survey calls at once, new survey calls per minute, and the ceiling on the
    # lines surveys may take in agents' worth (never starve inbound calls).
    survey_max_concurrent: int = Field(default=4, ge=0)
    survey_calls_per_minute: int = Field(default=20, ge=0)
    survey_agent_lines: int = Field(default=4, ge=0)
    # How the customer is reached: the Originate Channel (``{number}`` is replaced).
    survey_dial: str = "PJSIP/{number}@trunk-provider"
    survey_caller_id: str = '"回访" <4008001000>'
    survey_ring_timeout_s: int = Field(default=30, ge=5, le=120)
    # The dispatcher's tick, and how late a planned dial may go out before it is re-planned.
    survey_dispatch_s: float = Field(default=1.0, gt=0)
    # An attempt with no outcome this long after its Originate is resolved from what
    # Asterisk saw (CDRs, live channels) by crash recovery.
    survey_attempt_stale_s: float = Field(default=180.0, gt=0)
    # The scheduler holding the lock checks it this often (PostgreSQL: a round trip on the
    # lock's own connection); a lost lock stops its jobs.
    scheduler_lock_check_s: float = Field(default=1.0, gt=0)
    # --- speech (Vosk): voice answers in menus, transcripts for QA ---------------------
    # The Vosk model directory (e.g. /srv/vosk/vosk-model-small-cn-0.22, downloaded by the
    # site). None: no speech at all, every speech step is a key step.
    speech_model_path: Path | None = None
    # The model's language: which phrase list of a flow's speech step feeds the grammar.
    speech_language: str = "cmn"
    # The FastAGI server's AudioSocket listener: Asterisk streams the caller's audio to it
    # during a speech step (`AudioSocket(uuid,host:port)`). Worker N of `agi --workers`
    # listens on port + N - 1; the host is the address Asterisk connects to.
    speech_audiosocket_host: str = "127.0.0.1"
    speech_audiosocket_port: int = Field(default=4574, ge=0, le=65535)     # 0: any free port
    # The answer is taken this long after the caller's voice stops (end of speech).
    speech_end_silence_ms: int = Field(default=200, ge=60, le=2000)
    # The longest answer listened to; a caller still talking then is decided on what was said.
    speech_max_utterance_s: float = Field(default=6.0, ge=1, le=30)
    # Transcription of sampled calls (scheduler job): at most this many calls per run.
    speech_transcribe_batch: int = Field(default=20, ge=1)
    speech_transcribe_interval_s: int = Field(default=600, ge=10)
    # Checks on the agent's side: the greeting within this many seconds of the start, the
    # farewell within this many seconds of the end; overlaps shorter than this are not
    # interruptions (a "嗯" over the other side).
    speech_greeting_within_s: float = 8.0
    speech_farewell_within_s: float = 15.0
    speech_interruption_min_s: float = 0.8
    # Words recognised with less confidence are shown in the transcript but decide no check.
    speech_min_word_conf: float = Field(default=0.7, ge=0, le=1)
    # --- callbacks (回电): retries and click-to-dial --------------------------------------
    # A task whose calls back did not reach the customer is closed after this many.
    callback_max_attempts: int = 3
    # The next try after no answer / busy / unreachable, in opening-hours minutes.
    callback_retry_minutes: float = 60.0
    # How long the agent's own phone rings before click-to-dial gives up.
    callback_agent_ring_s: int = 30
    # The dialplan context click-to-dial sends the answered agent phone to
    # (asterisk_conf/extensions.conf [cc-callback]: records, then dials the customer).
    callback_dial_context: str = "cc-callback"
    # --- reports and KPIs (README "Reports and KPIs" defines each) ----------------------
    # An unanswered caller who left the queue sooner than this is a short abandon.
    kpi_short_abandon_s: int = Field(default=5, ge=0)
    # Service level: answered within this many seconds of joining the queue.
    kpi_service_level_s: int = Field(default=20, ge=1)
    # First-contact resolution: the caller did not call again within this many days.
    kpi_fcr_days: int = Field(default=3, ge=1)
    # How often the scheduler looks for a finished day whose complaint summary is not kept.
    report_keep_interval_s: float = Field(default=600.0, gt=0)
    # How often the scheduler recomputes the hours of the report rollup that changed
    # (reports read the calls for those hours meanwhile, so figures are never stale).
    report_rollup_interval_s: float = Field(default=60.0, gt=0)
    # Fair queues: an ordinary caller who has waited this long is raised to priority_raised
    # (per queue: the queues' aging_after_s / aging_priority); 0 = no aging. The AMI
    # listener looks for such callers this often.
    queue_aging_after_s: int = Field(default=90, ge=0)
    queue_aging_check_s: float = Field(default=5.0, gt=0)
    # Wallboard thresholds: a number turns amber, then red, at these values.
    wallboard_wait_amber_s: int = 30
    wallboard_wait_red_s: int = 60
    wallboard_waiting_amber: int = 3
    wallboard_waiting_red: int = 6
    wallboard_sl_amber: float = Field(default=0.8, ge=0, le=1)
    wallboard_sl_red: float = Field(default=0.6, ge=0, le=1)
    wallboard_callbacks_red: int = 5

    @field_validator("unmasked_roles", mode="before")
    @classmethod
    def _split_roles(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().strip("[]")
            return [part.strip().strip("'\"") for part in value.split(",") if part.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
