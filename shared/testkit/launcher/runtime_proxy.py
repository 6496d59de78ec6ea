#!/usr/bin/env python3
"""Lambda runtime API proxy for the tests: real deadlines, recorded answers.

``cargo lambda watch`` serves the runtime API, but it sends every invocation
the same ``Lambda-Runtime-Deadline-Ms: 600000``, which is not a time (the
service sends the deadline in milliseconds since the Unix epoch). The function
talks to this proxy instead (``AWS_LAMBDA_RUNTIME_API``); it forwards every
request to cargo lambda unchanged except that the deadline header of each
``/runtime/invocation/next`` answer becomes now + the function's timeout, as
the service computes it. It records, per request id, the deadline it gave and
when the function answered (``/response`` or ``/error``), so a test can check
that a function that ran out of time still answered before its deadline.

Control endpoints (JSON), for tests:

* ``POST /_proxy/config``: ``{"timeout_seconds": N}`` sets the function
  timeout for later invocations (default ``--timeout-seconds``, 30, the
  template's).
* ``GET /_proxy/invocations``: ``[{"request_id", "deadline_ms", "started_ms",
  "answered_ms", "answer"}]``, ``answer`` being ``response``, ``error`` or
  null while the function is still running.

The service would also stop a function at its deadline ("Task timed out");
this proxy does not, it only records: the tests assert that the function
answered in time.
"""

import argparse
import http.client
import json
import re
import select
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"timeout_seconds": 30.0, "invocations": {}, "order": []}
LOCK = threading.Lock()
UPSTREAM = {"host": None, "port": None}
ANSWER = re.compile(r"/runtime/invocation/([^/]+)/(response|error)")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def now_ms():
    return int(time.time() * 1000)


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY each
    # answer waits for the peer's delayed ACK (tens of milliseconds).
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):  # quiet: one line per request is noise
        pass

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # trailers end with an empty line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status, headers, body):
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def json_reply(self, payload, status=200):
        self.reply(status, [("Content-Type", "application/json")], json.dumps(payload).encode())

    def handle_any(self):
        body = self.read_body()
        path = self.path
        if path.startswith("/_proxy/"):
            return self.control(path, body)
        # The function has answered when it sends its answer: record that
        # before forwarding, since the runtime releases the invoke (and a
        # test may read the record) as soon as it has the answer.
        match = ANSWER.search(path)
        if match:
            with LOCK:
                record = STATE["invocations"].get(match.group(1))
                if record is not None and record["answer"] is None:
                    record["answered_ms"] = now_ms()
                    record["answer"] = match.group(2)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        forwarded = self.forward(path, body, headers)
        if forwarded is None:
            return
        response, answer_headers, answer_body = forwarded
        if path.endswith("/runtime/invocation/next") and response.status == 200:
            request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
            started = now_ms()
            with LOCK:
                deadline = started + int(STATE["timeout_seconds"] * 1000)
                STATE["invocations"][request_id] = {
                    "request_id": request_id,
                    "deadline_ms": deadline,
                    "started_ms": started,
                    "answered_ms": None,
                    "answer": None,
                }
                STATE["order"].append(request_id)
            answer_headers = [
                (k, str(deadline) if k.lower() == "lambda-runtime-deadline-ms" else v)
                for k, v in answer_headers
            ]
        self.reply(response.status, answer_headers, answer_body)

    def forward(self, path, body, headers):
        """Sends the request upstream on this connection's kept-alive upstream
        connection (a new one if the runtime closed it); None if the function
        hung up while waiting."""
        for attempt in (1, 2):
            connection = getattr(self, "upstream", None)
            if connection is None:
                connection = http.client.HTTPConnection(UPSTREAM["host"], UPSTREAM["port"], timeout=None)
                self.upstream = connection
            try:
                if connection.sock is None:
                    connection.connect()
                    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                connection.request(self.command, path, body=body, headers=headers)
                if not self.wait_for_upstream(connection):
                    # The function went away while waiting for an event (a
                    # test restarted it): hang up upstream too, as its own
                    # connection would have, so the runtime does not hand an
                    # event to nobody.
                    self.drop_upstream()
                    self.close_connection = True
                    return None
                response = connection.getresponse()
                answer_body = response.read()
            except (http.client.HTTPException, OSError):
                self.drop_upstream()
                if attempt == 2:
                    raise
                continue
            answer_headers = response.getheaders()
            if response.will_close:
                self.drop_upstream()
            return response, answer_headers, answer_body
        return None

    def drop_upstream(self):
        connection = getattr(self, "upstream", None)
        if connection is not None:
            connection.close()
        self.upstream = None

    def finish(self):
        self.drop_upstream()
        super().finish()

    def wait_for_upstream(self, connection):
        """Waits until upstream answers; False if the client hung up first."""
        while True:
            readable, _, _ = select.select([self.connection, connection.sock], [], [], 1.0)
            if connection.sock in readable:
                return True
            if self.connection in readable:
                try:
                    data = self.connection.recv(1, socket.MSG_PEEK)
                except OSError:
                    return False
                if not data:
                    return False
                # The client sent more (a pipelined request): keep waiting.
                time.sleep(0.05)

    def control(self, path, body):
        with LOCK:
            if path == "/_proxy/config":
                config = json.loads(body or b"{}")
                if "timeout_seconds" in config:
                    STATE["timeout_seconds"] = float(config["timeout_seconds"])
                return self.json_reply({"timeout_seconds": STATE["timeout_seconds"]})
            if path == "/_proxy/invocations":
                return self.json_reply([STATE["invocations"][i] for i in STATE["order"]])
        return self.json_reply({"error": "unknown path"}, 404)

    do_GET = handle_any
    do_POST = handle_any
    do_PUT = handle_any
    do_DELETE = handle_any


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="cargo lambda's runtime API, http://host:port")
    parser.add_argument("--timeout-seconds", type=float, default=30.0)
    args = parser.parse_args()
    upstream = urllib.parse.urlsplit(args.upstream)
    UPSTREAM["host"], UPSTREAM["port"] = upstream.hostname, upstream.port
    STATE["timeout_seconds"] = args.timeout_seconds
    server = ThreadingHTTPServer((args.host, args.port), Proxy)
    server.daemon_threads = True
    print("runtime proxy listening on %s:%d" % (args.host, args.port), file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
