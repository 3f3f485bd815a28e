"""服务用语 checks on the agent's side of a transcript.

Text in, results out (no audio, no database): the same functions run on a transcript
written by hand in a test and on Vosk's output. Each result is passed or not, with the
moments that decided it, so an inspector can click straight to them:

* ``greeting``: a greeting phrase within the first seconds of the agent's speech, and not
  a rude opener (喂 …) as the first word;
* ``farewell``: a farewell phrase near the end of the call;
* ``banned``: none of the 服务忌语, every occurrence with its moment;
* ``negative``: none of the negative words (不能、不会、不行 …), likewise;
* ``interruption``: the agent did not start speaking over the caller for longer than a
  back-channel "嗯".
Simplified and traditional characters match alike (both folded to simplified).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from callcenter.services.qa.service_language import PhraseLists
from callcenter.services.speech.grammar import normalise

GREETING, FAREWELL, BANNED, NEGATIVE, INTERRUPTION = "greeting", "farewell", "banned", "negative", "interruption"
CHECKS = (GREETING, FAREWELL, BANNED, NEGATIVE, INTERRUPTION)
CHECK_LABELS = {
    GREETING: "开头问候语（问声）",
    FAREWELL: "结束语（送声）",
    BANNED: "无服务忌语",
    NEGATIVE: "无否定词",
    INTERRUPTION: "未打断客户",
}
# Words of one side closer than this belong to one stretch of speech.
SPEECH_GAP_S = 0.3


@dataclass(frozen=True)
class CheckResult:
    check: str
    passed: bool
    evidence: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Limits:
    greeting_within_s: float = 8.0
    farewell_within_s: float = 15.0
    interruption_min_s: float = 0.8
    # Words Vosk heard with less confidence are shown but decide nothing: with a small
    # vocabulary (phrase spotting) the recogniser forces any sound onto some phrase.
    min_word_conf: float = 0.7


def find_phrases(lines: list[dict], phrases: tuple[str, ...] | list[str], min_conf: float = 0.0) -> list[dict]:
    """Every occurrence of any phrase, in time order: ``{"at", "phrase", "text"}`` with
    ``at`` the start of the word where the phrase begins. Phrases may span words; words
    heard with a confidence below ``min_conf`` break a phrase and match nothing."""
    wanted = [(p, normalise(p)) for p in phrases if normalise(p)]
    found: list[dict] = []
    for line in lines:
        chars, starts = _folded_line(line, min_conf)
        for phrase, folded in wanted:
            index = chars.find(folded)
            while index >= 0:
                found.append({"at": starts[index], "phrase": phrase, "text": line.get("text", "")})
                index = chars.find(folded, index + len(folded))
    found.sort(key=lambda f: (f["at"], f["phrase"]))
    return found


def _folded_line(line: dict, min_conf: float = 0.0) -> tuple[str, list[float]]:
    """The line's words folded and joined, and the start time of each character's word
    (a word below ``min_conf`` becomes a separator no phrase can cross)."""
    chars: list[str] = []
    starts: list[float] = []
    for word, start, *rest in line.get("words") or []:
        confident = not rest or float(rest[-1]) >= min_conf
        folded = normalise(word) if confident else "\x00"
        chars.append(folded)
        starts.extend([float(start)] * len(folded))
    return "".join(chars), starts


def check_agent(agent: list[dict], caller: list[dict], lists: PhraseLists, limits: Limits = Limits()) -> list[CheckResult]:
    """All checks of one call (``agent``/``caller``: transcript lines of each side)."""
    return [greeting(agent, lists, limits), farewell(agent, caller, lists, limits),
            occurrences(BANNED, agent, lists.banned, limits), occurrences(NEGATIVE, agent, lists.negative, limits),
            interruptions(agent, caller, limits)]


def greeting(agent: list[dict], lists: PhraseLists, limits: Limits) -> CheckResult:
    if not agent:
        return CheckResult(GREETING, False, [{"at": 0.0, "phrase": "", "text": "坐席一方没有说话"}])
    first_at = agent[0]["start"]
    opening = [line for line in agent if line["start"] <= first_at + limits.greeting_within_s]
    first_word = agent[0]["words"][0][0] if agent[0].get("words") else ""
    rude = [p for p in lists.rude_openers if normalise(first_word) == normalise(p)]
    if rude:
        return CheckResult(GREETING, False, [{"at": first_at, "phrase": rude[0], "text": agent[0].get("text", "")}])
    found = [f for f in find_phrases(opening, lists.greetings, limits.min_word_conf)
             if f["at"] <= first_at + limits.greeting_within_s]
    if found:
        return CheckResult(GREETING, True, found[:1])
    return CheckResult(GREETING, False, [{"at": first_at, "phrase": "", "text": agent[0].get("text", "")}])


def farewell(agent: list[dict], caller: list[dict], lists: PhraseLists, limits: Limits) -> CheckResult:
    ends = [line["end"] for line in agent + caller]
    if not agent or not ends:
        return CheckResult(FAREWELL, False, [])
    closing_from = max(ends) - limits.farewell_within_s
    found = [f for f in find_phrases([line for line in agent if line["end"] >= closing_from], lists.farewells,
                                     limits.min_word_conf)
             if f["at"] >= closing_from]
    if found:
        return CheckResult(FAREWELL, True, found[-1:])
    last = agent[-1]
    return CheckResult(FAREWELL, False, [{"at": last["start"], "phrase": "", "text": last.get("text", "")}])


def occurrences(check: str, agent: list[dict], phrases: tuple[str, ...], limits: Limits = Limits()) -> CheckResult:
    found = find_phrases(agent, phrases, limits.min_word_conf)
    return CheckResult(check, not found, found)


def interruptions(agent: list[dict], caller: list[dict], limits: Limits) -> CheckResult:
    """The agent began a stretch of speech while the caller was speaking and both went on
    together for at least ``interruption_min_s``."""
    found = []
    caller_spans = _spans(caller)
    for start, end in _spans(agent):
        for c_start, c_end in caller_spans:
            if c_start < start < c_end:
                overlap = min(end, c_end) - start
                if overlap >= limits.interruption_min_s:
                    found.append({"at": round(start, 2), "seconds": round(overlap, 2)})
                break
    return CheckResult(INTERRUPTION, not found, found)


def _spans(lines: list[dict]) -> list[tuple[float, float]]:
    """Stretches of continuous speech from word timings."""
    words = sorted((float(w[1]), float(w[2])) for line in lines for w in line.get("words") or [])
    spans: list[list[float]] = []
    for start, end in words:
        if spans and start - spans[-1][1] <= SPEECH_GAP_S:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    return [(s, e) for s, e in spans]
