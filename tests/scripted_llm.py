"""A real HTTP server on 127.0.0.1 speaking OpenAI chat completions (streaming too), with scripted replies."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ScriptedLLM:
    """Replies with `self.reply` (text), or the next of `self.replies` while any are queued, or misbehaves per
    `self.mode`: 'ok', 'malformed', 'slow', 'error500'."""

    def __init__(self) -> None:
        self.reply = ""
        self.replies: list[str] = []
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                if outer.mode == "error500":
                    self._send(500, b'{"error": {"message": "scripted failure"}}', "application/json")
                    return
                if outer.mode == "slow":
                    time.sleep(3)
                if outer.mode == "malformed":
                    self._send(200, b"this is not json {", "application/json")
                    return
                reply = outer.replies.pop(0) if outer.replies else outer.reply
                if body.get("stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for piece in [reply[i : i + 7] for i in range(0, len(reply), 7)]:
                        self._event({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
                    self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                    self.wfile.write(b"data: [DONE]\n\n")
                    return
                msg = {"role": "assistant", "content": reply}
                self._send(
                    200, json.dumps(_completion({"message": msg, "finish_reason": "stop"})).encode(), "application/json"
                )

            def _event(self, choice: dict[str, Any]) -> None:
                data = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "scripted", **choice}
                self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()

            def _send(self, code: int, payload: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedLLM:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _completion(choice: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 0,
        "model": "scripted",
        "choices": [{"index": 0, **choice}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
