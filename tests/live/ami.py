"""A small blocking AMI session for the live tests: log in as the callcenter user,
send actions, collect the messages (responses, list items, events) until a condition.

It checks what the shipped manager.conf grants; the callcenter's own listener is
tested elsewhere against recorded transcripts.
"""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Callable

Message = dict[str, str]


class AMIError(RuntimeError):
    pass


class AMISession:
    def __init__(self, port: int, username: str, secret: str, *, host: str = "127.0.0.1",
                 events: str = "on", timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(0.2)
        self._buf = b""
        self._ids = itertools.count(1)
        self.messages: list[Message] = []      # everything received, in order
        self.banner = self._read_line(timeout)
        if not self.banner.startswith("Asterisk Call Manager/"):
            raise AMIError(f"not an AMI banner: {self.banner!r}")
        reply = self.action("Login", Username=username, Secret=secret, Events=events)
        if reply.get("Response") != "Success":
            raise AMIError(f"login refused: {reply}")

    # --- wire ----------------------------------------------------------------------------------
    def _fill(self) -> bool:
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return True
        if not data:
            return False
        self._buf += data
        return True

    def _read_line(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self._buf:
            if time.monotonic() > deadline or not self._fill():
                raise AMIError("no banner from AMI")
        line, self._buf = self._buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def _drain(self) -> bool:
        alive = self._fill()
        while b"\r\n\r\n" in self._buf:
            block, self._buf = self._buf.split(b"\r\n\r\n", 1)
            message: Message = {}
            for line in block.decode("utf-8", "replace").split("\r\n"):
                key, _, value = line.partition(": ")
                # Repeated keys (Output: of Command) are joined with newlines.
                message[key] = f"{message[key]}\n{value}" if key in message else value
            self.messages.append(message)
        return alive

    def send(self, action: str, **fields: str) -> str:
        action_id = f"t{next(self._ids)}"
        lines = [f"Action: {action}", f"ActionID: {action_id}"]
        lines += [f"{key}: {value}" for key, value in fields.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return action_id

    # --- waiting ----------------------------------------------------------------------------------
    def wait_for(self, match: Callable[[Message], bool], timeout: float = 10.0,
                 start: int = 0) -> Message:
        """The first message from index ``start`` on that ``match``es."""
        deadline = time.monotonic() + timeout
        seen = start
        while True:
            for message in self.messages[seen:]:
                if match(message):
                    return message
            seen = len(self.messages)
            if time.monotonic() > deadline:
                raise AMIError(f"no matching AMI message within {timeout} s")
            if not self._drain():
                raise AMIError("AMI connection closed")

    def action(self, action: str, timeout: float = 10.0, **fields: str) -> Message:
        """Send an action and return its response."""
        action_id = self.send(action, **fields)
        return self.wait_for(lambda m: m.get("ActionID") == action_id and "Response" in m, timeout)

    def list_action(self, action: str, timeout: float = 10.0, **fields: str) -> tuple[Message, list[Message]]:
        """An action answered by a list (EventList: start ... Complete): (response, items)."""
        start = len(self.messages)
        action_id = self.send(action, **fields)
        response = self.wait_for(lambda m: m.get("ActionID") == action_id and "Response" in m,
                                 timeout, start)
        if response.get("Response") != "Success":
            return response, []
        self.wait_for(lambda m: m.get("ActionID") == action_id and m.get("EventList") == "Complete",
                      timeout, start)
        items = [m for m in self.messages[start:]
                 if m.get("ActionID") == action_id and "Event" in m and m.get("EventList") != "Complete"]
        return response, items

    def events(self, name: str) -> list[Message]:
        self._drain()
        return [m for m in self.messages if m.get("Event") == name]

    def close(self) -> None:
        try:
            self.send("Logoff")
        except OSError:
            pass
        self.sock.close()
