"""Time N concurrent fetches of a slow local server (0.3 s a response), N = 1 and 100."""
from __future__ import annotations

import http.server
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FLUENTAI = [sys.executable, "-m", "fluentai", "jit", str(HERE / "netfanout.fl"), "--"]


class SlowHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        time.sleep(0.3)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 512


def main() -> None:
    server = Server(("127.0.0.1", 0), SlowHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    subprocess.run(FLUENTAI + [url, "1"], check=True, capture_output=True)   # warm the cache
    for n in (1, 100):
        times = []
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run(FLUENTAI + [url, str(n)], check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        print(f"{n:4d} concurrent fetches: median {statistics.median(times):.3f} s "
              f"(min {min(times):.3f}, max {max(times):.3f})")
    server.shutdown()


if __name__ == "__main__":
    main()
