"""Reading the shipped Asterisk config files the way Asterisk does, enough to compare
them with the code: sections with template flags and inheritance, ``key = value`` /
``key => value`` lines, ``;`` comments (``\\;`` is a literal semicolon), and the
dialplan's ``exten =>`` / ``same =>`` priorities."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

CONF_DIR = Path(__file__).resolve().parents[2] / "asterisk_conf"

_SECTION = re.compile(r"^\[([^\]]+)\](?:\(([^)]*)\))?\s*$")
_OPTION = re.compile(r"^([^=]+?)\s*=>?\s*(.*)$")


@dataclass
class Section:
    name: str
    is_template: bool = False
    templates: list[str] = field(default_factory=list)
    options: list[tuple[str, str]] = field(default_factory=list)   # in file order, own lines only
    line: int = 0

    def get(self, key: str, default: str | None = None) -> str | None:
        values = [v for k, v in self.options if k == key]
        return values[-1] if values else default

    def all(self, key: str) -> list[str]:
        return [v for k, v in self.options if k == key]


def strip_comment(line: str) -> str:
    out, i = [], 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if line[i] == ";":
            break
        out.append(line[i])
        i += 1
    return "".join(out).strip()


def read_sections(name: str) -> list[Section]:
    sections: list[Section] = []
    for number, raw in enumerate((CONF_DIR / name).read_text(encoding="utf-8").splitlines(), 1):
        line = strip_comment(raw)
        if not line:
            continue
        match = _SECTION.match(line)
        if match:
            flags = [f.strip() for f in (match.group(2) or "").split(",") if f.strip()]
            sections.append(Section(match.group(1), "!" in flags, [f for f in flags if f != "!"],
                                    line=number))
            continue
        option = _OPTION.match(line)
        if option is None or not sections:
            raise ValueError(f"{name}:{number}: cannot read {raw!r}")
        sections[-1].options.append((option.group(1).strip(), option.group(2).strip()))
    return sections


def resolved(sections: list[Section], section: Section) -> dict[str, str]:
    """A section's options with its templates' options underneath (last one wins)."""
    templates = {s.name: s for s in sections if s.is_template}
    merged: dict[str, str] = {}
    for template in section.templates:
        merged.update(resolved(sections, templates[template]))
    merged.update(dict(section.options))
    return merged


def pjsip_objects(kind: str) -> dict[str, dict[str, str]]:
    """pjsip.conf objects of one type (endpoint, aor, auth ...) with templates applied."""
    sections = read_sections("pjsip.conf")
    objects = {}
    for section in sections:
        if section.is_template:
            continue
        options = resolved(sections, section)
        if options.get("type") == kind:
            objects[section.name] = options
    return objects


# --- the dialplan --------------------------------------------------------------------------

@dataclass(frozen=True)
class Priority:
    context: str
    exten: str
    index: int          # 1, 2, 3 ... as Asterisk numbers them
    label: str
    app: str
    data: str
    line: int


_EXTEN = re.compile(r"^(?P<exten>[^,]+),(?P<prio>[^,(]+)(?:\((?P<label>[^)]*)\))?,(?P<app>\w+)(?:\((?P<data>.*)\))?$")
_SAME = re.compile(r"^(?P<prio>[^,(]+)(?:\((?P<label>[^)]*)\))?,(?P<app>\w+)(?:\((?P<data>.*)\))?$")


def dialplan() -> tuple[dict[str, str], list[Priority]]:
    """([globals], every priority of every context) from extensions.conf."""
    globals_: dict[str, str] = {}
    priorities: list[Priority] = []
    current = None
    for section in read_sections("extensions.conf"):
        if section.name == "general":
            continue
        if section.name == "globals":
            globals_.update(section.options)
            continue
        for key, value in section.options:
            if key == "exten":
                match = _EXTEN.match(value)
                if not match:
                    raise ValueError(f"cannot read exten => {value}")
                exten, index = match["exten"].strip(), 1
            elif key == "same":
                match = _SAME.match(value)
                if not match or current is None:
                    raise ValueError(f"cannot read same => {value}")
                exten, index = current.exten, current.index + 1
            else:
                continue
            current = Priority(section.name, exten, index, match["label"] or "", match["app"],
                               match["data"] or "", section.line)
            priorities.append(current)
    return globals_, priorities


VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
