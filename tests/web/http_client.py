"""A browser-less HTTP client for tests against the real server: sign in with the
real form (CSRF token, session cookie), then open raw event streams."""

from __future__ import annotations

import http.cookiejar
import re
import socket
import urllib.parse
import urllib.request

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class WebClient:
    """Signs in with the real form and keeps the session cookie up to date."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    @property
    def cookie(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)

    def request(self, path: str, data: bytes | None = None, headers: dict | None = None,
                method: str | None = None) -> tuple[int, str]:
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers or {}, method=method)
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def sign_in(self, username: str, password: str) -> WebClient:
        page = self.request("/auth/login")[1]
        token = _TOKEN.search(page).group(1)
        body = urllib.parse.urlencode({"username": username, "password": password, "csrf_token": token}).encode()
        status, _ = self.request("/auth/login", data=body)
        assert status == 302, f"sign-in as {username} failed: HTTP {status}"
        return self

    def get(self, path: str) -> tuple[int, str]:
        return self.request(path)

    def post_json(self, path: str, body: str) -> tuple[int, str]:
        page = self.request("/agent/")[1]
        token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
        return self.request(path, data=body.encode(), method="POST",
                            headers={"Content-Type": "application/json", "X-CSRFToken": token})


class RawStream:
    """An event stream over a plain socket, so the test decides when the client vanishes."""

    def __init__(self, host: str, port: int, path: str, cookie: str, last_event_id: str | None = None) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        headers = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", f"Cookie: {cookie}",
                   "Accept: text/event-stream"]
        if last_event_id:
            headers.append(f"Last-Event-ID: {last_event_id}")
        self.sock.sendall(("\r\n".join(headers) + "\r\n\r\n").encode())
        self.buffer = b""
        self.status = int(self._read_until(b"\r\n").split()[1])

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the stream")
            self.buffer += chunk
        head, self.buffer = self.buffer.split(marker, 1)
        return head

    def read_text_until(self, needle: str) -> str:
        """Raw bytes (chunked framing included) up to ``needle``."""
        data = b""
        while needle.encode() not in data:
            data += self.buffer
            self.buffer = b""
            if needle.encode() in data:
                break
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"stream closed before {needle!r}; got {data[-300:]!r}")
            data += chunk
        return data.decode(errors="replace")

    def close(self) -> None:
        self.sock.close()
