"""The network effect beyond the golden cases: Python handlers, TLS, the event loop.

In:  fluentai.run / the CLI, the local HTTP server of tests/http_fixture.py, and an HTTPS
     server made here with a throw-away self-signed certificate (openssl req).
Out: assertions on results and errors; no timing (bench/netfanout times the event loop).
"""
from __future__ import annotations

import http.server
import shutil
import ssl
import subprocess
import threading

import pytest

import fluentai
from fluentai.backend import rt_build
from http_fixture import base_url, closed_port_url


def test_python_handler_for_network_replaces_the_default():
    calls = []

    def network(op, *args):
        calls.append((op, args))
        return {"status": 200, "body": "from python", "headers": {}}

    result = fluentai.run('(get (network:get "http://example.invalid/x") "body")',
                          handlers={"network": network})
    assert result == "from python"
    assert calls == [("get", ("http://example.invalid/x",))]


def test_fetch_through_the_api_returns_a_map():
    result = fluentai.run(f'(network:fetch "{base_url()}/ok")')
    assert result["status"] == 200 and result["body"] == "hello"
    assert result["headers"]["content-type"] == "text/plain"


def test_refused_connection_is_a_network_error():
    with pytest.raises(fluentai.FluentAIError) as caught:
        fluentai.run(f'(network:get "{closed_port_url()}/")')
    assert caught.value.type == "network-error"
    assert "connection refused" in caught.value.message


def test_a_fetch_in_flight_is_not_a_deadlock():
    # The main task waits for a task that waits on the network, and a third task is blocked
    # on a channel nobody writes: with a fetch in flight the program is not deadlocked.
    source = f'''
        (define ch (chan))
        (go (recv! ch))
        (get (await (go (network:get "{base_url()}/slow"))) "body")'''
    assert fluentai.run(source) == "slow"


def test_deadlock_is_still_reported_once_nothing_is_in_flight():
    with pytest.raises(fluentai.FluentAIError) as caught:
        fluentai.run(f'(network:get "{base_url()}/ok") (recv! (chan))')
    assert caught.value.type == "deadlock"


@pytest.fixture(scope="module")
def https_server(tmp_path_factory):
    if not rt_build.TLS_AVAILABLE:
        pytest.skip("the runtime was built without OpenSSL (libssl-dev missing)")
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl command to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            body = b"secret"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://localhost:{server.server_address[1]}", cert
    server.shutdown()


def test_https_with_the_servers_certificate_authority(https_server):
    url, cert = https_server
    result = fluentai.run(f'(network:fetch "{url}/" {{"ca-file" "{cert}"}})')
    assert result["status"] == 200 and result["body"] == "secret"


def test_https_rejects_an_unknown_certificate(https_server):
    url, _ = https_server
    with pytest.raises(fluentai.FluentAIError) as caught:
        fluentai.run(f'(network:get "{url}/")')
    assert caught.value.type == "network-error"
    assert "certificate verification" in caught.value.message


# Host-name lookups run on a thread of their own (runtime_c/resolve.c); tests/slow_dns.c makes
# `slow.test` take as long as a dead DNS server.
def _jit_with_slow_dns(source: str, tmp_path, slow_dns, seconds: int):
    import os
    import sys
    program = tmp_path / "p.fl"
    program.write_text(source)
    env = dict(os.environ, FLUENTAI_NO_CACHE="1", **slow_dns(seconds))
    return subprocess.run([sys.executable, "-m", "fluentai", "jit", "p.fl"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_other_tasks_run_during_a_slow_lookup(tmp_path, slow_dns):
    # The lookup takes 1 s and fails, and awaiting it ends the program: the other task's line
    # is only there if it ran while the lookup was going on (a blocking lookup runs first,
    # the other task's sleep only starts after it).
    source = '''
        (define lookup (go (network:get "http://slow.test/")))
        (go (time:sleep 0.05) (print-line "other task ran"))
        (await lookup)
        '''
    result = _jit_with_slow_dns(source, tmp_path, slow_dns, 1)
    assert result.returncode == 1, result.stderr
    assert result.stdout == "other task ran\n"
    assert "error[network-error]: cannot resolve host `slow.test`" in result.stderr


def test_the_fetch_timeout_covers_the_lookup(tmp_path, slow_dns):
    source = '(network:fetch "http://slow.test/" {"timeout" 0.2})\n'
    result = _jit_with_slow_dns(source, tmp_path, slow_dns, 60)
    assert result.returncode == 1, result.stderr
    assert "error[network-error]: timeout after 0.2 s fetching http://slow.test/" in result.stderr


def test_an_abandoned_lookup_does_not_outlive_its_run(tmp_path, slow_dns):
    # The first run gives up on a lookup whose thread is still resolving; the thread frees it
    # when it ends, while the second run is going on.
    script = '''
import fluentai
for timeout in (0.1, 3):
    try:
        fluentai.run('(network:fetch "http://slow.test/" {"timeout" %s})' % timeout)
    except fluentai.FluentAIError as error:
        print(error.type, error.message.split(":")[0])
print(fluentai.run("(+ 1 2)"))
'''
    import os
    import sys
    env = dict(os.environ, **slow_dns(1))
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("network-error timeout after 0.1 s fetching http\n"
                             "network-error cannot resolve host `slow.test`\n3\n")
