"""An Event Grid webhook for tests: a plain HTTP endpoint that answers the subscription
validation handshake and records every notification the emulator delivers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"


class EventWebhook:
    def __init__(self) -> None:
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answer: Any = None
                for event in body:
                    if event["eventType"] == VALIDATION:
                        answer = {"validationResponse": event["data"]["validationCode"]}
                    else:
                        with hook._lock:
                            hook._events.append(event)
                data = json.dumps(answer).encode() if answer is not None else b""
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_port}/hook"

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """The delivered notifications (of ``event_type``, short or full, when given)."""
        with self._lock:
            events = list(self._events)
        if event_type is None:
            return events
        full = event_type if "." in event_type else f"Microsoft.KeyVault.{event_type}"
        return [e for e in events if e["eventType"] == full]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
