"""Turn one flow file into a ``Flow``, or a ``FlowError`` listing every problem found.

Three passes, each reported as ``<file>: node '<id>': <problem> (line N)``:
1. YAML: syntax, duplicate keys (``yamlfile``);
2. schema: field names and types (pydantic models in ``model``);
3. graph: root, targets, reachability, keys, prompts, loops without exit.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from callcenter.ivr.flow import Flow, FlowError, MenuNode, SpeechChoices
from callcenter.ivr.model import (
    IDENT_PATTERN,
    KEY_PATTERN,
    LANGUAGE_PATTERN,
    PROMPT_ID_PATTERN,
    Action,
    FlowFile,
    Node,
)
from callcenter.ivr.yamlfile import Location, YamlDocument, YamlProblem, read_yaml

EXIT_WORDS = "a queue, voicemail, callback or hangup"


class _Report:
    """Collects problems for one file, formatted the same way everywhere."""

    def __init__(self, path: Path, document: YamlDocument | None = None) -> None:
        self.path = path
        self.document = document
        self.problems: list[str] = []

    def add(self, message: str, node: str | None = None, location: Location = (),
            line: int | None = None) -> None:
        if line is None and self.document is not None and location:
            line = self.document.line_of(location)
        where = f"node '{node}': " if node else ""
        suffix = f" (line {line})" if line else ""
        self.problems.append(f"{self.path}: {where}{message}{suffix}")

    def raise_if_any(self) -> None:
        if self.problems:
            raise FlowError(self.problems)

    def error(self) -> FlowError:
        return FlowError(self.problems)


def compile_flow(path: Path, text: str) -> Flow:
    report = _Report(path)
    try:
        document = read_yaml(text)
    except YamlProblem as exc:
        report.add(exc.message, node=_node_of(exc.location), line=exc.line)
        raise report.error() from None
    report.document = document
    if not isinstance(document.data, dict):
        report.add("a flow file is a mapping with 'root', 'prompts' and 'nodes'", line=1)
        raise report.error()
    try:
        spec = FlowFile.model_validate(document.data)
    except ValidationError as exc:
        for error in exc.errors():
            _schema_problem(report, error)
        raise report.error() from None
    flow = _GraphCheck(path.stem, path, spec, report).run()
    report.raise_if_any()
    return flow


def _node_of(location: Location) -> str | None:
    if len(location) >= 2 and location[0] == "nodes":
        return str(location[1])
    return None


def _schema_problem(report: _Report, error: dict[str, Any]) -> None:
    location = tuple(error["loc"])
    node = _node_of(location)
    inner = location[2:] if node else location
    message = error["msg"].removeprefix("Value error, ")
    kind = error["type"]
    field = _describe_location(inner[:-1] if kind in ("missing", "extra_forbidden") else inner)
    last = inner[-1] if inner else ""
    if kind == "missing":
        text = f"missing '{last}'"
        if last == "root" and not node:
            text += " (the id of the node every call starts in)"
        elif last == "nodes" and not node:
            text += " (the menus of this flow)"
    elif kind == "extra_forbidden":
        text = f"unknown field '{last}'"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        text = "must be a mapping of fields (see ivr_flows/README.md)"
    else:
        text = message
    if field:
        text = f"{field}: {text}"
    report.add(text, node=node, location=location)


def _describe_location(location: Location) -> str:
    parts: list[str] = []
    index = 0
    while index < len(location):
        part = location[index]
        if part in ("keys", "common_keys") and index + 1 < len(location):
            parts.append(f"{'common key' if part == 'common_keys' else 'key'} '{location[index + 1]}'")
            index += 2
            continue
        if part in ("category", "target", "kind") and parts:
            index += 1      # the message already says what is wrong with it
            continue
        parts.append(str(part))
        index += 1
    return ": ".join(parts)


class _GraphCheck:
    def __init__(self, name: str, path: Path, spec: FlowFile, report: _Report) -> None:
        self.name = name
        self.path = path
        self.spec = spec
        self.report = report
        self.node_ids = set(spec.nodes)

    # -- entry point ---------------------------------------------------------------
    def run(self) -> Flow:
        prompts = self._check_prompts()
        root_ok = self._check_root()
        self._check_common_keys()
        for field in ("invalid_prompt", "no_input_prompt"):
            prompt_id = getattr(self.spec.defaults, field)
            if prompt_id is not None:
                self._check_prompt_ref(prompt_id, None, ("defaults", field), f"defaults: '{field}'")
        if self.spec.defaults.default is not None:
            self._check_action(self.spec.defaults.default, None, ("defaults", "default"),
                               "defaults: default", is_default=True)
        nodes: dict[str, MenuNode] = {}
        for node_id, node in self.spec.nodes.items():
            compiled = self._compile_node(node_id, node)
            if compiled is not None:
                nodes[node_id] = compiled
        if root_ok and len(nodes) == len(self.spec.nodes) and not self.report.problems:
            self._check_reachable(nodes)
            self._check_exits(nodes)
            self._check_silent_loops(nodes)
        return Flow(name=self.name, path=self.path, description=self.spec.description,
                    root=self.spec.root, nodes=nodes, prompts=prompts, max_steps=self.spec.max_steps)

    # -- prompts and root ------------------------------------------------------------
    def _check_prompts(self) -> dict[str, str]:
        prompts: dict[str, str] = {}
        for prompt_id, text in self.spec.prompts.items():
            location = ("prompts", prompt_id)
            if not PROMPT_ID_PATTERN.match(prompt_id):
                self.report.add(f"prompt id '{prompt_id}' must be lower-case letters, digits and _ "
                                "(it is the sound file name)", location=location)
            if text is None or (isinstance(text, str) and not text.strip()):
                self.report.add(f"prompt '{prompt_id}' has no text", location=location)
            elif not isinstance(text, str):
                self.report.add(f"prompt '{prompt_id}' must be text (quote it)", location=location)
            else:
                prompts[prompt_id] = " ".join(text.split())
        return prompts

    def _check_root(self) -> bool:
        if self.spec.root not in self.node_ids:
            self.report.add(f"root '{self.spec.root}' is not a node "
                            f"(nodes: {', '.join(sorted(self.node_ids))})", location=("root",))
            return False
        return True

    def _check_common_keys(self) -> None:
        for key, action in self.spec.common_keys.items():
            location = ("common_keys", key)
            self._check_key(key, None, location, label="common key")
            self._check_action(action, None, location, f"common key '{key}'", is_default=False)

    # -- one node ------------------------------------------------------------------
    def _compile_node(self, node_id: str, node: Node) -> MenuNode | None:
        base: Location = ("nodes", node_id)
        before = len(self.report.problems)
        if not IDENT_PATTERN.match(node_id):
            self.report.add("node ids are letters, digits and _ and start with a letter",
                            node=node_id, location=base)
        self._check_node_prompts(node_id, node, base)
        keys = self._node_keys(node_id, node, base)
        default = self._node_default(node_id, node, base)
        speech = self._node_speech(node_id, node, keys, base)
        if len(self.report.problems) != before or default is None:
            return None
        defaults = self.spec.defaults
        return MenuNode(
            id=node_id, say=tuple(node.say), prompt=node.prompt, keys=keys, default=default,
            timeout_ms=int(round((node.timeout_s or defaults.timeout_s) * 1000)),
            retries=defaults.retries if node.retries is None else node.retries,
            invalid_prompt=node.invalid_prompt or defaults.invalid_prompt,
            no_input_prompt=node.no_input_prompt or defaults.no_input_prompt,
            speech=speech,
        )

    def _node_speech(self, node_id: str, node: Node, keys: dict[str, Action],
                     base: Location) -> SpeechChoices | None:
        """A menu's spoken choices: each names a key the menu offers, with some words."""
        if node.speech is None:
            return None
        location = base + ("speech",)
        if node.prompt is None:
            self.report.add("has 'speech' but no menu 'prompt': only a menu takes an answer",
                            node=node_id, location=location)
            return None
        if node.speech.prompt is not None:
            self._check_prompt_ref(node.speech.prompt, node_id, location + ("prompt",), "speech: 'prompt'")
        phrases: dict[str, dict[str, tuple[str, ...]]] = {}
        for language, choices in node.speech.phrases.items():
            where = location + ("phrases", language)
            if not LANGUAGE_PATTERN.match(language):
                self.report.add(f"speech: '{language}' is not a language code (cmn, yue, ko, en ...)",
                                node=node_id, location=where)
            kept: dict[str, tuple[str, ...]] = {}
            for key, words in choices.items():
                if key not in keys:
                    self.report.add(f"speech: '{language}' phrases for key '{key}', which this menu does not "
                                    f"offer (keys: {', '.join(sorted(keys))})", node=node_id, location=where + (key,))
                    continue
                cleaned = tuple(w.strip() for w in words if isinstance(w, str) and w.strip())
                if len(cleaned) != len(words) or not cleaned:
                    self.report.add(f"speech: '{language}' key '{key}': every phrase must be non-empty text",
                                    node=node_id, location=where + (key,))
                    continue
                kept[key] = cleaned
            heard: dict[str, str] = {}
            for key, words in kept.items():
                for word in words:
                    if word in heard and heard[word] != key:
                        self.report.add(f"speech: '{language}' phrase '{word}' is given for keys "
                                        f"'{heard[word]}' and '{key}'", node=node_id, location=where)
                    heard[word] = key
            phrases[language] = kept
        return SpeechChoices(prompt=node.speech.prompt, phrases=phrases)

    def _check_node_prompts(self, node_id: str, node: Node, base: Location) -> None:
        for index, prompt_id in enumerate(node.say):
            self._check_prompt_ref(prompt_id, node_id, base + ("say", index), "'say'")
        if node.prompt is not None:
            self._check_prompt_ref(node.prompt, node_id, base + ("prompt",), "'prompt'")
        for field in ("invalid_prompt", "no_input_prompt"):
            if getattr(node, field) is not None:     # inherited ones are checked once, in run()
                self._check_prompt_ref(getattr(node, field), node_id, base + (field,), f"'{field}'")

    def _node_keys(self, node_id: str, node: Node, base: Location) -> dict[str, Action]:
        """The node's own keys plus the flow's common keys, each checked."""
        keys: dict[str, Action] = {}
        is_root = node_id == self.spec.root
        if node.prompt is None:
            if node.keys:
                self.report.add("has keys but no menu 'prompt' to offer them", node=node_id,
                                location=base + ("keys",))
            if not node.say:
                self.report.add("has neither a menu 'prompt' nor anything to 'say'", node=node_id,
                                location=base)
            return keys
        for key, action in self.spec.common_keys.items():
            if action.kind == "back" and is_root:
                continue   # nothing to go back to from the root; documented in the README
            keys[key] = action
        for key, action in node.keys.items():
            location = base + ("keys", key)
            self._check_key(key, node_id, location, label="key")
            if key in self.spec.common_keys and not (
                    is_root and self.spec.common_keys[key].kind == "back"):
                self.report.add(
                    f"key '{key}' collides with common key '{key}' "
                    f"({self.spec.common_keys[key].describe()}); remove one of them",
                    node=node_id, location=location)
            self._check_action(action, node_id, location, f"key '{key}'", is_default=False)
            if action.kind == "back" and is_root:
                self.report.add(f"key '{key}' goes back, but '{node_id}' is the root "
                                "(there is nothing to go back to)", node=node_id, location=location)
            keys[key] = action
        if not keys:
            self.report.add("has a menu 'prompt' but no keys", node=node_id, location=base)
        return keys

    def _node_default(self, node_id: str, node: Node, base: Location) -> Action | None:
        """What happens when the caller does nothing: the node's, else the flow's default."""
        default = node.default or self.spec.defaults.default
        if default is None:
            self.report.add("no default action for a caller who does nothing "
                            "(set 'default' on the node or under 'defaults')", node=node_id, location=base)
            return None
        location = base + ("default",) if node.default else ("defaults", "default")
        if node.default is not None:    # the inherited one is checked once, in run()
            self._check_action(default, node_id, location, "default", is_default=True)
        if default.kind == "back" and node_id == self.spec.root:
            self.report.add(f"default goes back, but '{node_id}' is the root", node=node_id,
                            location=location)
        return default

    def _check_key(self, key: str, node_id: str | None, location: Location, label: str) -> None:
        if key == "#":
            self.report.add(f"{label} '#' cannot be used: GET DATA takes # as the end of input, "
                            "so the flow never sees it", node=node_id, location=location)
        elif not KEY_PATTERN.match(key):
            self.report.add(f"{label} '{key}' is not a single phone key (0-9 or *)",
                            node=node_id, location=location)

    def _check_action(self, action: Action, node_id: str | None, location: Location,
                      label: str, is_default: bool) -> None:
        if action.kind == "goto" and action.target not in self.node_ids:
            self.report.add(f"{label} goes to unknown node '{action.target}'", node=node_id,
                            location=location)
        if action.say is not None:
            self._check_prompt_ref(action.say, node_id, location + ("say",), f"{label}: 'say'")
        if is_default and action.kind == "repeat":
            self.report.add("default cannot be 'repeat': the retries already repeat the menu; "
                            "give the caller a way out (e.g. {queue: human})", node=node_id,
                            location=location)

    def _check_prompt_ref(self, prompt_id: str, node_id: str | None, location: Location,
                          label: str) -> None:
        if prompt_id not in self.spec.prompts:
            self.report.add(f"{label} names prompt '{prompt_id}', which is not defined under 'prompts'",
                            node=node_id, location=location)

    # -- whole graph -----------------------------------------------------------------
    def _check_reachable(self, nodes: dict[str, MenuNode]) -> None:
        seen = {self.spec.root}
        queue = deque([self.spec.root])
        while queue:
            for target in _goto_targets(nodes[queue.popleft()]):
                if target not in seen:
                    seen.add(target)
                    queue.append(target)
        for node_id in nodes:
            if node_id not in seen:
                self.report.add(f"unreachable: no key or default leads here from the root "
                                f"'{self.spec.root}'", node=node_id, location=("nodes", node_id))

    def _check_exits(self, nodes: dict[str, MenuNode]) -> None:
        """Every node must offer some sequence of choices that ends the flow."""
        parents = _parents(nodes)
        can_exit = {nid for nid, node in nodes.items()
                    if any(a.terminal for a in (*node.keys.values(), node.default))}
        changed = True
        while changed:
            changed = False
            for node_id, node in nodes.items():
                if node_id in can_exit:
                    continue
                nexts = set(_goto_targets(node))
                if any(a.kind == "back" for a in (*node.keys.values(), node.default)):
                    nexts |= parents.get(node_id, set())
                if nexts & can_exit:
                    can_exit.add(node_id)
                    changed = True
        for node_id in nodes:
            if node_id not in can_exit:
                self.report.add(f"loop without exit: no choice from here ever reaches {EXIT_WORDS}",
                                node=node_id, location=("nodes", node_id))

    def _check_silent_loops(self, nodes: dict[str, MenuNode]) -> None:
        """A caller who presses nothing follows the defaults: they must end the flow."""
        parents = _parents(nodes)

        def default_next(node_id: str) -> list[str]:
            action = nodes[node_id].default
            if action.kind == "goto":
                return [action.target or ""]
            if action.kind == "back":
                return sorted(parents.get(node_id, set()))
            return []

        state: dict[str, int] = {}        # 1 = on the current path, 2 = done
        reported: set[frozenset[str]] = set()

        def visit(node_id: str, trail: list[str]) -> None:
            state[node_id] = 1
            trail.append(node_id)
            for nxt in default_next(node_id):
                if state.get(nxt) == 1:
                    cycle = trail[trail.index(nxt):] + [nxt]
                    members = frozenset(cycle)
                    if members not in reported:
                        reported.add(members)
                        self.report.add(
                            "loop without exit: a caller who presses nothing goes round "
                            + " → ".join(f"'{c}'" for c in cycle)
                            + f" forever; one of these defaults must lead to {EXIT_WORDS}",
                            node=nxt, location=("nodes", nxt, "default"))
                elif state.get(nxt) is None:
                    visit(nxt, trail)
            trail.pop()
            state[node_id] = 2

        for node_id in nodes:
            if node_id not in state:
                visit(node_id, [])


def _goto_targets(node: MenuNode) -> list[str]:
    return [a.target for a in (*node.keys.values(), node.default) if a.kind == "goto" and a.target]


def _parents(nodes: dict[str, MenuNode]) -> dict[str, set[str]]:
    parents: dict[str, set[str]] = {}
    for node_id, node in nodes.items():
        for target in _goto_targets(node):
            parents.setdefault(target, set()).add(node_id)
    return parents
