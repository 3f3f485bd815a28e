"""A strict YAML reader for flow files.

PyYAML's default loaders silently keep the last of two equal keys and turn mapping
keys such as ``1`` into integers (``01`` even into an octal 1), so ``1:`` and ``"1":``
would become two different menu keys.  Flow files are written by people, so this
reader:

- rejects a key that appears twice in one mapping, naming both lines;
- keeps every mapping key as the text written in the file (``1`` → ``"1"``);
- remembers the line of every value, so validation errors can point at it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Location = tuple[Any, ...]        # ("nodes", "complaint", "keys", "3")


class YamlProblem(Exception):
    """The file is not valid YAML for a flow; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None, location: Location = ()) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.location = location


@dataclass
class YamlDocument:
    data: Any
    lines: dict[Location, int] = field(default_factory=dict)

    def line_of(self, location: Location) -> int | None:
        """Line of the value at ``location``, or of its nearest enclosing value."""
        location = tuple(location)
        while location:
            if location in self.lines:
                return self.lines[location]
            location = location[:-1]
        return self.lines.get(())


def read_yaml(text: str) -> YamlDocument:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or str(exc)
        if "expected alphabetic or numeric character" in problem:
            # A bare * starts a YAML alias: the commonest slip in a menu file.
            problem += " (write the key '*' in quotes: \"*\")"
        raise YamlProblem(f"not valid YAML: {problem}", mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    document = YamlDocument(data=None)
    if root is None:
        return document
    document.data = _convert(root, (), document.lines, yaml.SafeLoader(""))
    return document


def _convert(node: yaml.Node, location: Location, lines: dict[Location, int],
             constructor: yaml.SafeLoader) -> Any:
    # A mapping value is located at its key's line ("orphan:"), not at its first child.
    lines.setdefault(location, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlProblem("a mapping key must be plain text",
                                  key_node.start_mark.line + 1, location)
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key == "<<":
                raise YamlProblem("merge keys ('<<') are not supported in flow files", line, location)
            if key in first_seen:
                raise YamlProblem(
                    f"duplicate key '{key}' (lines {first_seen[key]} and {line})", None, location)
            first_seen[key] = line
            lines[location + (key,)] = line
            result[key] = _convert(value_node, location + (key,), lines, constructor)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, location + (index,), lines, constructor)
                for index, item in enumerate(node.value)]
    return constructor.construct_object(node, deep=True)
