"""A validated flow, ready for the engine: every inherited setting already resolved."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from callcenter.ivr.model import Action


class FlowError(Exception):
    """One or more problems in flow files; each line names the file, the node and the problem."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class SpeechChoices:
    """A menu's spoken choices: language → key → phrases (first the name, then synonyms)."""

    prompt: str | None                               # None: the menu prompt
    phrases: dict[str, dict[str, tuple[str, ...]]]

    def for_language(self, language: str) -> dict[str, tuple[str, ...]] | None:
        """The key → phrases of ``language`` (``cmn`` also serves ``zh``/``zh-cn``), None when
        this menu has no phrases for the loaded model's language."""
        if language in self.phrases:
            return self.phrases[language]
        base = language.split("-")[0].lower()
        aliases = {"zh": "cmn", "cmn": "zh"}
        for candidate in (base, aliases.get(base)):
            if candidate and candidate in self.phrases:
                return self.phrases[candidate]
        return None


@dataclass(frozen=True)
class MenuNode:
    id: str
    say: tuple[str, ...]            # prompt ids played the first time the node is entered
    prompt: str | None              # menu prompt for GET DATA; None = announcement node
    keys: dict[str, Action]         # own keys plus the flow's common keys
    default: Action                 # what happens when the caller does nothing (or keeps erring)
    timeout_ms: int
    retries: int
    invalid_prompt: str | None
    no_input_prompt: str | None
    speech: SpeechChoices | None = None      # the menu also takes a spoken answer

    @property
    def is_menu(self) -> bool:
        return self.prompt is not None

    @property
    def escape_digits(self) -> str:
        """Digits that may interrupt this node's announcements: exactly its menu keys."""
        return "".join(sorted(self.keys))


@dataclass(frozen=True)
class Flow:
    name: str                        # file stem: what lines.ivr_flow names
    path: Path
    description: str
    root: str
    nodes: dict[str, MenuNode]
    prompts: dict[str, str]          # prompt id → Chinese text (the id is the sound file name)
    max_steps: int

    def node(self, node_id: str) -> MenuNode:
        return self.nodes[node_id]

    def prompt_text(self, prompt_id: str) -> str:
        """Text of a prompt; FlowError when the flow does not define it (handlers ask by id)."""
        try:
            return self.prompts[prompt_id]
        except KeyError:
            raise FlowError(f"{self.path}: prompt '{prompt_id}' is not defined under 'prompts'") from None
