"""Drive one flow over an AGI channel and report where the caller went.

Per menu node:
1. the first time the node is entered, play its ``say`` prompts with STREAM FILE,
   interruptible by the node's keys (a caller who knows the menu need not listen);
2. GET DATA with the menu prompt, the node's timeout and max 1 digit;
3. a known key runs its action; an unknown key or silence counts as a failed attempt:
   the "invalid choice" (or "no input") prompt plays and the menu repeats, until the
   node's retries are used up, then the node's default action runs.

A menu with ``speech`` phrases for the loaded model's language (and a model loaded in
this process) first takes a spoken answer: its speech prompt plays (keys still
interrupt it), then ``AudioSocket`` streams the caller's voice to our listener, which
decides as the caller stops speaking. A choice heard is recorded ``speech:<key>`` and runs
that key's action; a key pressed while listening is a key; silence, no match or any
speech failure is recorded (``speech:silence`` / ``speech:nomatch`` / ``speech:error``)
and the menu carries on as a key menu (GET DATA, retries, default): a call is never stuck
on speech.

Announcement nodes (no menu prompt) play ``say`` and go straight to their default.
Prompts follow each other with no gap: nothing else happens between two commands.

The path records what happened, in order: node ids as they are entered, ``key:<k>``
for an accepted key, ``invalid:<k>`` for a key the node does not offer, ``timeout``
for silence, ``default`` when the default action runs after the retries (or right away
on an announcement), ``limit`` if the caller exceeded the flow's max_steps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from callcenter.agi import audiosocket
from callcenter.agi.channel import AGIChannel, AGIError, AGIHangup
from callcenter.config import Settings
from callcenter.ivr.flow import Flow, MenuNode
from callcenter.ivr.loader import get_flow
from callcenter.ivr.model import Action
from callcenter.ivr.sounds import prompt_sound
from callcenter.services.calls.routing import IvrOutcome
from callcenter.services.speech.grammar import Grammar
from callcenter.services.speech.listen import DTMF, MATCH, Heard

log = logging.getLogger(__name__)

# The longest a prompt is expected to play (the guard on the AGI allows for it).
PROMPT_ALLOWANCE_S = 15.0


async def run_flow(channel: AGIChannel, settings: Settings, flow_name: str) -> IvrOutcome:
    """Run ``flow_name`` from ``settings.ivr_flows_dir`` on ``channel``.

    Raises FlowError when the flow does not exist or does not validate, and AGIHangup
    (with ``exc.ivr_path``) when the caller hangs up.
    """
    flow = get_flow(settings.ivr_flows_dir, flow_name)
    return await FlowRun(channel, settings, flow).run()


@dataclass
class FlowRun:
    channel: AGIChannel
    settings: Settings
    flow: Flow
    path: list[str] = field(default_factory=list)
    _visited: set[str] = field(default_factory=set)
    _steps: int = 0

    async def run(self) -> IvrOutcome:
        try:
            # Prompts on an unanswered channel reach the caller as early media at best;
            # ANSWER on a channel that is already up returns at once.
            await self.channel.answer()
            return await self._walk()
        except (AGIHangup, AGIError) as exc:
            exc.ivr_path = list(self.path)   # type: ignore[attr-defined]
            raise

    # -- the walk ---------------------------------------------------------------------
    async def _walk(self) -> IvrOutcome:
        stack: list[str] = []            # where "back" returns to
        node = self.flow.node(self.flow.root)
        while True:
            self.path.append(node.id)
            action = await self._choose(node)
            if action is None:           # step limit reached
                return IvrOutcome(path=self.path, action="queue", category="human")
            if action.say:
                await self._play(action.say)
            if action.kind == "goto":
                stack.append(node.id)
                node = self.flow.node(action.target or "")
            elif action.kind == "back":
                # Validation forbids back at the root; an empty stack can still happen
                # when a node reached only by its own default goes back: stay here.
                node = self.flow.node(stack.pop()) if stack else node
            else:
                return IvrOutcome(path=self.path, action=_outcome_action(action),
                                  category=action.category, queue=action.queue_name)

    async def _choose(self, node: MenuNode) -> Action | None:
        """Play the node and return the action the caller chose (or the default)."""
        first_visit = node.id not in self._visited
        self._visited.add(node.id)
        if not node.is_menu:
            # An announcement is the content itself: it plays on every visit.
            await self._guard(len(node.say))
            await self._play_all(node.say, "")
            self.path.append("default")
            return node.default
        digit = None
        if first_visit and node.say:
            # A menu's greeting plays once per call; coming back means "the menu again".
            await self._guard(len(node.say))
            digit = await self._play_all(node.say, node.escape_digits)
        failures = 0
        listened = False                 # one spoken answer per visit, then the keys
        while True:
            self._steps += 1
            if self._steps > self.flow.max_steps:
                log.warning("flow %s: caller passed %d menu steps; sending to a person",
                            self.flow.name, self.flow.max_steps)
                self.path.append("limit")
                return None
            timed_out = False
            spoken = False
            if digit is None and not listened:
                listened = True
                heard = await self._hear(node)
                if heard is not None and heard.outcome in (MATCH, DTMF):
                    digit, spoken = heard.choice, heard.outcome == MATCH
                elif heard is not None:
                    self.path.append(heard.path_word)
            if digit is None:
                # The menu prompt, the caller's time to press, a retry prompt after it.
                await self._guard(2, node.timeout_ms / 1000)
                reply = await self.channel.get_data(
                    self._sound(node.prompt or ""), node.timeout_ms, max_digits=1)
                digit, timed_out = reply.digits or None, reply.timed_out
            action = node.keys.get(digit) if digit else None
            if action is not None:
                self.path.append(f"speech:{digit}" if spoken else f"key:{digit}")
                if action.kind != "repeat":
                    return action
                digit = None             # repeat: the menu again, not a failed attempt
                continue
            silent = digit is None and timed_out
            if silent:
                self.path.append("timeout")
            else:
                # An empty reply without "(timeout)" means the caller pressed '#' alone
                # (GET DATA swallows it): a key press, just not one the menu offers.
                self.path.append(f"invalid:{digit or '#'}")
            failures += 1
            if failures > node.retries:
                self.path.append("default")
                return node.default
            retry_prompt = node.no_input_prompt if silent else node.invalid_prompt
            digit = await self._play_all((retry_prompt,), node.escape_digits) if retry_prompt else None

    async def _hear(self, node: MenuNode) -> Heard | None:
        """The speech step of a menu; None when it has none here (no phrases for the model's
        language, or speech off in this process)."""
        listener = audiosocket.running_listener()
        if node.speech is None or listener is None:
            return None
        choices = node.speech.for_language(listener.model.language)
        if not choices:
            return None
        listen_s = node.timeout_ms / 1000
        await self._guard(1, listen_s + self.settings.speech_max_utterance_s)
        digit = await self._play(node.speech.prompt or node.prompt or "", node.escape_digits)
        if digit:
            return Heard(DTMF, choice=digit)
        return await audiosocket.hear(self.channel, listener, Grammar.from_phrases(choices), listen_s)

    async def _guard(self, prompts: int, waiting_s: float = 0.0) -> None:
        """Keep the dialplan's limit on this AGI ahead of the step about to run."""
        if self.settings.agi_guard_s > 0:
            await self.channel.guard(self.settings.agi_guard_s + prompts * PROMPT_ALLOWANCE_S + waiting_s)

    # -- playing prompts --------------------------------------------------------------
    async def _play_all(self, prompt_ids: tuple[str, ...] | list[str], escape_digits: str) -> str | None:
        """Play prompts in order; stop at the first digit and return it."""
        for prompt_id in prompt_ids:
            digit = await self._play(prompt_id, escape_digits)
            if digit:
                return digit
        return None

    async def _play(self, prompt_id: str, escape_digits: str = "") -> str | None:
        return await play_prompt(self.channel, self.settings, prompt_id, escape_digits)

    def _sound(self, prompt_id: str) -> str:
        return prompt_sound(self.settings, prompt_id)


async def play_prompt(channel: AGIChannel, settings: Settings, prompt_id: str,
                      escape_digits: str = "") -> str | None:
    """STREAM FILE one prompt; the digit that interrupted it, if any.

    A prompt that cannot be played (sound file missing: ``result=-1`` without a
    hangup) is logged and skipped: a missing file must not cost the caller the call.
    """
    try:
        result = await channel.stream_file(prompt_sound(settings, prompt_id), escape_digits)
    except AGIError as exc:
        log.error("prompt '%s' could not be played (%s); run `callcenter prompts build` "
                  "and check prompts_dir", prompt_id, exc)
        return None
    return result.digit


def _outcome_action(action: Action) -> str:
    return action.kind          # queue | voicemail | callback | hangup: the IvrOutcome words
