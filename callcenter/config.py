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
