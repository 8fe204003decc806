"""A local HTTP server for the network effect's tests, started once per test process.

In:  nothing; ``base_url()`` starts the server on first use.
Out: ``base_url()`` -> "http://127.0.0.1:PORT"; the routes below. The server runs in daemon
threads on an ephemeral loopback port and ends with the test process; no response takes more
than half a second, so every test that uses it is bounded in time.

Routes: /ok (200, "hello"), /status/N (status N), /chunked (chunked coding), /slow (0.3 s),
/big (1 MiB), /echo (the request's method, body and x-test header), /close (no length: the
body ends with the connection), /repeat (a repeated header), /malformed (not HTTP).
"""
from __future__ import annotations

import http.server
import socketserver
import threading
import time

_server: "_Server | None" = None
_lock = threading.Lock()
BIG_BODY = b"0123456789abcdef" * 65536   # 1 MiB


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        try:
            self._route()
        except (BrokenPipeError, ConnectionResetError):
            pass   # a client that timed out on purpose

    def do_POST(self) -> None:
        self.do_GET()

    def do_PUT(self) -> None:
        self.do_GET()

    def _route(self) -> None:
        path = self.path
        if path == "/ok":
            self._reply(200, b"hello", {"Content-Type": "text/plain"})
        elif path.startswith("/status/"):
            self._reply(int(path.rsplit("/", 1)[1]), b"status body")
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"chunked ", b"body ", b"in three parts"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        elif path.startswith("/slow"):
            time.sleep(0.3)
            self._reply(200, b"slow")
        elif path == "/big":
            self._reply(200, BIG_BODY)
        elif path == "/echo":
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            text = f"{self.command} {body.decode()} {self.headers.get('x-test')}"
            self._reply(200, text.encode())
        elif path == "/close":
            self.close_connection = True
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until the end")
        elif path == "/repeat":
            self.send_response(200)
            self.send_header("X-Many", "one")
            self.send_header("X-Many", "two")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/malformed":
            self.close_connection = True
            self.wfile.write(b"this is not HTTP\r\n\r\n")
        else:
            self._reply(404, b"no such page")


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 512   # 100 concurrent connects must not overflow the backlog


def base_url() -> str:
    global _server
    with _lock:
        if _server is None:
            _server = _Server(("127.0.0.1", 0), _Handler)
            threading.Thread(target=_server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{_server.server_address[1]}"


def closed_port_url() -> str:
    """A URL whose port nothing listens on (bound, then released)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
