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
