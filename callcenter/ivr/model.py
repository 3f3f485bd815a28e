"""The shape of a flow file (pydantic v2), before the graph checks in ``validate``.

Field names here are the YAML names; ``ivr_flows/README.md`` documents them.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from callcenter.labels import CATEGORIES

_CATEGORY_ALIASES: dict[str, str] = {
    **{label: cid for cid, label in CATEGORIES.items()},
    "订单": "order",
    "退换货": "order",
    "订单退换货": "order",
}

ActionKind = Literal["goto", "queue", "repeat", "back", "voicemail", "callback", "hangup"]
ACTION_KINDS: tuple[str, ...] = ("goto", "queue", "repeat", "back", "voicemail", "callback", "hangup")
# Actions that end the flow and hand the call back to the dialplan.
TERMINAL_KINDS = frozenset({"queue", "voicemail", "callback", "hangup"})
# Keys a caller can enter through GET DATA: '#' ends GET DATA input and never reaches us.
KEY_PATTERN = re.compile(r"^[0-9*]$")
IDENT_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# Prompt ids become file names in prompts_dir: keep them portable and shell-safe.
PROMPT_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_]*$")


def category_id(value: str) -> str:
    """``投诉`` or ``complaint`` → ``complaint``; ValueError for anything else."""
    text = str(value).strip()
    if text in CATEGORIES:
        return text
    if text in _CATEGORY_ALIASES:
        return _CATEGORY_ALIASES[text]
    known = ", ".join(f"{cid} ({label})" for cid, label in CATEGORIES.items())
    raise ValueError(f"category '{text}' is not one of: {known}")


class Action(BaseModel):
    """What a key (or the default) does.

    YAML forms: a bare word (``repeat``, ``back``, ``voicemail``, ``callback``,
    ``hangup``) or a mapping with exactly one action word (``{goto: repair}``,
    ``{queue: complaint, queue_name: complaints}``, ``{voicemail: true, say: ...}``)
    plus the optional ``say`` prompt played before the action is carried out.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ActionKind
    target: str | None = None          # goto: the node id
    category: str = ""                 # queue (required); voicemail/callback (optional)
    queue_name: str | None = None      # an explicit Asterisk queue for this choice
    say: str | None = None             # prompt id played before the action

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, value: Any) -> Any:
        if isinstance(value, str):
            word = value.strip()
            if word in ("goto", "queue"):
                raise ValueError(f"'{word}' needs a value, e.g. {{{word}: ...}}")
            if word not in ACTION_KINDS:
                raise ValueError(f"unknown action '{word}' (expected one of: {', '.join(ACTION_KINDS)})")
            return {"kind": word}
        if not isinstance(value, dict):
            raise ValueError("an action is a word (repeat, back, ...) or a mapping such as {goto: node}")
        if "kind" in value:
            return value
        words = [key for key in value if key in ACTION_KINDS]
        if len(words) != 1:
            found = ", ".join(words) if words else "none"
            raise ValueError(f"an action mapping needs exactly one of {', '.join(ACTION_KINDS)} "
                             f"(found {found})")
        word = words[0]
        argument = value[word]
        data = {k: v for k, v in value.items() if k != word}
        data["kind"] = word
        if word == "goto":
            data["target"] = argument
        elif word == "queue":
            data["category"] = argument
        elif argument not in (None, True):
            if word in ("voicemail", "callback") and isinstance(argument, str):
                data["category"] = argument
            else:
                raise ValueError(f"'{word}' takes no value here (write '{word}: true' or just '{word}')")
        return data

    @field_validator("category", mode="before")
    @classmethod
    def _category(cls, value: Any) -> str:
        if value in (None, ""):
            return ""
        return category_id(value)

    @field_validator("target", "queue_name", "say", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be non-empty text")
        return value.strip()

    @model_validator(mode="after")
    def _consistent(self) -> Action:
        if self.kind == "goto" and not self.target:
            raise ValueError("goto needs a node id")
        if self.kind == "queue" and not self.category:
            raise ValueError("queue needs a category")
        if self.kind != "queue" and self.queue_name:
            raise ValueError("queue_name only goes with queue")
        return self

    @property
    def terminal(self) -> bool:
        return self.kind in TERMINAL_KINDS

    def describe(self) -> str:
        if self.kind == "goto":
            return f"goto {self.target}"
        if self.kind == "queue":
            return f"queue {self.category}"
        return self.kind


def _prompt_list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return value


# Language codes of speech phrase lists: cmn (Mandarin), yue, ko, en ... as the model's
# ``speech_language`` setting names them.
LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]+)?$")


class Speech(BaseModel):
    """A menu that also takes a spoken answer: per model language, the phrases that choose
    each key (the first is the choice's name, the others synonyms)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str | None = None                        # played instead of the menu prompt
    phrases: dict[str, dict[str, list[str]]] = Field(min_length=1)

    @field_validator("phrases", mode="before")
    @classmethod
    def _phrase_lists(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for language, choices in value.items():
            if isinstance(choices, dict):
                choices = {str(key): ([words] if isinstance(words, str) else words)
                           for key, words in choices.items()}
            out[str(language)] = choices
        return out


class Node(BaseModel):
    """A menu (``prompt`` + ``keys``) or an announcement (only ``say`` + ``default``)."""

    model_config = ConfigDict(extra="forbid")

    say: list[str] = Field(default_factory=list)   # played when the node is first entered
    prompt: str | None = None                       # the menu prompt (GET DATA)
    keys: dict[str, Action] = Field(default_factory=dict)
    default: Action | None = None
    timeout_s: float | None = Field(default=None, ge=1, le=30)
    retries: int | None = Field(default=None, ge=0, le=5)
    invalid_prompt: str | None = None
    no_input_prompt: str | None = None
    speech: Speech | None = None

    @field_validator("say", mode="before")
    @classmethod
    def _say_list(cls, value: Any) -> Any:
        return _prompt_list(value)


class Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The caller's time is precious: 5 s after the menu ends is enough to press a key.
    timeout_s: float = Field(default=5.0, ge=1, le=30)
    retries: int = Field(default=2, ge=0, le=5)
    invalid_prompt: str | None = None
    no_input_prompt: str | None = None
    default: Action | None = None


class FlowFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    root: str
    defaults: Defaults = Field(default_factory=Defaults)
    common_keys: dict[str, Action] = Field(default_factory=dict)
    prompts: dict[str, Any] = Field(default_factory=dict)
    nodes: dict[str, Node] = Field(min_length=1)
    # A guard against a caller bouncing between menus forever (each menu play is a step).
    max_steps: int = Field(default=60, ge=5, le=1000)
