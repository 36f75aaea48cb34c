"""A local OpenAI-compatible chat server for tests and benchmarks (127.0.0.1, free port).

It answers `POST /v1/chat/completions` with a verdict computed from the judge prompt (correct
when the graded answer equals the first reference), after `latency_s`. Failures can be queued:
an HTTP status (429, 500), 'hang' (no answer within the client's timeout), 'drop' (the
connection closed without an answer) or a 200 that is not a completion (`MALFORMED`). A
prompt whose answer contains 'GIBBERISH' (every prompt, when `evasive`) gets a reply without
a verdict. It records every request's Authorization header, so tests can check the key went
to the server and nowhere else.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# 200 replies that are not a chat completion: a cut-off body, JSON of another shape, no text
MALFORMED = {
    "malformed": b'{"id": "chatcmpl-fake", "choices": [{"mess',
    "no-choices": json.dumps({"id": "chatcmpl-fake", "object": "chat.completion"}).encode(),
    "null-content": json.dumps(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": "gpt-4-0613",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": None}}],
        }
    ).encode(),
}


class _Server(ThreadingHTTPServer):
    # the listen backlog, read when the socket starts listening (setting it on an instance
    # afterwards changes nothing): Python's default of 5 drops the SYNs of a client opening
    # more connections at once, which then wait a second to retry, as no real API does
    request_queue_size = 128


class FakeOpenAI:
    def __init__(self, latency_s: float = 0.0, model: str = "gpt-4-0613", evasive: bool = False):
        self.latency_s = latency_s
        self.model = model
        self.evasive = evasive  # every reply without a verdict, as for 'GIBBERISH'
        self.failures: deque[int | str] = deque()
        self.requests = 0
        self.auth_headers: list[str] = []
        self.lock = threading.Lock()
        self.gone = False
        self.server = _Server(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.go_away()

    def go_away(self) -> None:
        """Stop answering: new connections are refused, open ones closed unanswered."""
        if not self.gone:
            self.gone = True
            self.server.shutdown()
            self.server.server_close()

    def reply_for(self, prompt: str) -> str:
        answer = re.search(r"^Answer to grade: (.*)$", prompt, re.MULTILINE).group(1)
        refs = re.search(r"^Reference answers \(any one is right\): (.*)$", prompt, re.MULTILINE)
        if "GIBBERISH" in answer or self.evasive:
            return "I think it might be, hard to say."
        right = answer.strip().lower() in [r.strip().lower() for r in refs.group(1).split(";")]
        return "Verdict: correct" if right else "Verdict: incorrect"

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if fake.gone:  # a kept-alive connection outlived the server
                    self.close_connection = True
                    return None
                with fake.lock:
                    fake.requests += 1
                    fake.auth_headers.append(self.headers.get("Authorization", ""))
                    failure = fake.failures.popleft() if fake.failures else None
                if failure == "hang":
                    time.sleep(2.0)
                    return self._send(500, {"error": {"message": "too late"}})
                if failure == "drop":  # the server goes away mid-request
                    self.close_connection = True
                    return None
                if failure in MALFORMED:
                    return self._send_raw(200, MALFORMED[failure])
                time.sleep(fake.latency_s)
                if isinstance(failure, int):
                    return self._send(failure, {"error": {"message": f"injected {failure}"}})
                content = fake.reply_for(body["messages"][-1]["content"])
                self._send(
                    200,
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": fake.model,
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": content},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    },
                )

            def _send(self, status: int, payload: dict) -> None:
                self._send_raw(status, json.dumps(payload).encode())

            def _send_raw(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _serve(latency_s: float, urls) -> None:
    with FakeOpenAI(latency_s=latency_s) as fake:
        urls.put(fake.base_url)
        fake.thread.join()


class FakeOpenAIProcess:
    """The fake server in its own process, so that it does not share the client's GIL."""

    def __init__(self, latency_s: float = 0.0):
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self.urls = context.Queue()
        self.process = context.Process(target=_serve, args=(latency_s, self.urls), daemon=True)

    def __enter__(self) -> FakeOpenAIProcess:
        self.process.start()
        self.base_url = self.urls.get(timeout=60)
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.join(timeout=10)
