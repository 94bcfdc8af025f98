"""A real local HTTP server speaking the OpenAI API (models, chat and text completions), for tests of
the `openai` engine's HTTP behaviour: retries, errors, concurrency, auth. It echoes prompts back."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeOpenAI:
    def __init__(self, *, model: str = "fake-model", api_key: str | None = None, delay: float = 0.05) -> None:
        self.model, self.api_key, self.delay = model, api_key, delay
        self.fail_next: list[int] = []  # statuses to answer the next requests with (429, 500, ...)
        self.requests = 0
        self.bodies: list[dict[str, Any]] = []  # every POST body, in arrival order
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                if fake.api_key and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    self._send(401, {"error": {"message": "bad key", "type": "invalid_request_error"}})
                    return False
                return True

            def do_GET(self) -> None:  # noqa: N802
                if not self._authorized():
                    return
                if self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": fake.model, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:  # noqa: N802
                if not self._authorized():
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.requests += 1
                    fake.bodies.append(body)
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                    status = fake.fail_next.pop(0) if fake.fail_next else 200
                try:
                    time.sleep(fake.delay)
                    if status != 200:
                        self._send(
                            status, {"error": {"message": f"injected {status}"}}, {"retry-after-ms": "10"}
                        )
                        return
                    if self.path == "/v1/chat/completions":
                        prompt = body["messages"][-1]["content"]
                    else:
                        prompt = body["prompt"]
                    if "FAIL400" in prompt:
                        self._send(400, {"error": {"message": "bad prompt", "type": "invalid_request_error"}})
                        return
                    text = f"echo[{body.get('seed')}]: {prompt}"[: 4 * body.get("max_tokens", 16)]
                    usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split())}
                    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                    common = {"id": "x", "created": 0, "model": body["model"], "usage": usage}
                    if self.path == "/v1/chat/completions":
                        choice = {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": text},
                        }
                        self._send(200, {**common, "object": "chat.completion", "choices": [choice]})
                    else:
                        choice = {"index": 0, "finish_reason": "stop", "text": text, "logprobs": None}
                        self._send(200, {**common, "object": "text_completion", "choices": [choice]})
                finally:
                    with fake.lock:
                        fake.in_flight -= 1

        return Handler
