"""A local OpenAI-compatible server that lm-eval's API backends talk to in tests.

Why: API teachers (``openai-chat-completions``, ``local-chat-completions``) and API judges
must be tested end to end with the real lm-eval clients (aiohttp/requests, retries,
payload building, answer parsing), and nothing can reach api.openai.com from CI. This
server implements the two endpoints those clients call::

    POST /v1/chat/completions   {"model", "messages": [{"role", "content"}], ...}
    POST /v1/completions        {"model", "prompt": str | [str], ...}

Answers are canned, deterministic and depend on the request, so a harness run against
it produces data the harness's own checks accept:

* a judge prompt (Prometheus's ``###Task Description`` format, or ours with its
  ``Rubric:`` section) gets ``{"score": 4, "feedback": ...}``;
* a generate/translate prompt (asks for "a single JSON object") gets a valid
  ``{"prompt": ..., "response": ...}`` pair in the language the system prompt names;
* a chat request with a ``response_format`` of type ``json_schema`` (schema-guided
  decoding, as OpenAI and vLLM's server offer it) gets the object its schema describes
  (a judgement when the schema has a ``score``, else the pair) whatever the prompt asks;
  a malformed ``response_format`` is refused with 400, as the real API does;
* anything else (respond) gets a plain answer in that language.

Which canned text is picked depends on a hash of the request text, so different
documents get different rows. Every request is recorded (path, headers, body) so tests
can assert what was sent, e.g. that the API key travelled in the ``Authorization``
header.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Canned (instruction, answer) pairs per language name the system prompt uses; long
# enough (well over 12 letters) that language ID is confident.
PAIRS: dict[str, list[tuple[str, str]]] = {
    "German": [
        (
            "Erkläre bitte kurz, warum im Herbst die Blätter der Bäume ihre Farbe ändern.",
            "Im Herbst bauen die Bäume das grüne Chlorophyll in ihren Blättern ab, weil die "
            "Tage kürzer und kälter werden. Dadurch werden gelbe und rote Farbstoffe "
            "sichtbar, die vorher überdeckt waren.",
        ),
        (
            "Schreibe eine höfliche Nachricht an deine Nachbarin, in der du dich für die "
            "Hilfe beim Umzug bedankst.",
            "Liebe Frau Müller, ich möchte mich ganz herzlich für Ihre Hilfe beim Umzug am "
            "Samstag bedanken. Ohne Sie hätten wir die schweren Kisten niemals so schnell "
            "in die Wohnung getragen.",
        ),
        (
            "Wie bereitet man einen einfachen Kartoffelsalat nach schwäbischer Art zu?",
            "Zuerst kocht man festkochende Kartoffeln, schält sie noch warm und schneidet "
            "sie in dünne Scheiben. Dann gießt man warme Brühe mit Essig, Öl, Zwiebeln und "
            "etwas Senf darüber und lässt den Salat eine Stunde ziehen.",
        ),
    ],
    "Spanish": [
        (
            "Explica brevemente por qué el cielo se ve de color azul durante el día.",
            "El cielo se ve azul porque la luz del sol se dispersa en la atmósfera y la luz "
            "azul, de longitud de onda más corta, se dispersa mucho más que la roja.",
        ),
        (
            "Escribe un mensaje amable para felicitar a un compañero por su nuevo trabajo.",
            "¡Enhorabuena por tu nuevo trabajo! Te lo mereces de verdad, y estoy seguro de "
            "que vas a hacerlo de maravilla en esta nueva etapa de tu vida profesional.",
        ),
    ],
}
DEFAULT_LANGUAGE = "German"
JUDGE_SCORE = 4
JUDGE_FEEDBACK = "The response is fluent and helpful, with minor room for improvement."

_LANGUAGE = re.compile(r"native-level expert in (\w+)")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def _language(text: str) -> str:
    match = _LANGUAGE.search(text)
    name = match.group(1) if match else DEFAULT_LANGUAGE
    return name if name in PAIRS else DEFAULT_LANGUAGE


_JUDGE_MARKERS = ("###Task Description", "\nRubric:\n")  # Prometheus's format, ours


def answer_for(system: str, user: str, *, schema: dict[str, Any] | None = None) -> str:
    """The canned answer to one prompt (system + user text), as described above.

    With ``schema`` (a ``json_schema`` response format) the answer is the object that
    schema describes: a judgement when it has a ``score``, else a prompt-response pair.
    """
    fields = set((schema or {}).get("properties") or {})
    if "score" in fields or (schema is None and any(m in user for m in _JUDGE_MARKERS)):
        return json.dumps({"score": JUDGE_SCORE, "feedback": JUDGE_FEEDBACK})
    pairs = PAIRS[_language(system + "\n" + user)]
    index = int(hashlib.sha256(user.encode("utf-8")).hexdigest(), 16) % len(pairs)
    prompt, response = pairs[index]
    if schema is not None or "single JSON object" in user:
        return json.dumps({"prompt": prompt, "response": response}, ensure_ascii=False)
    return response


def response_format_error(value: Any) -> str | None:
    """Why a ``response_format`` is malformed (OpenAI's shape), or None when it is fine."""
    if not isinstance(value, dict) or value.get("type") not in {
        "text",
        "json_object",
        "json_schema",
    }:
        return "response_format.type must be text, json_object or json_schema"
    if value["type"] != "json_schema":
        return None
    spec = value.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        return "response_format.json_schema needs a name"
    if not isinstance(spec.get("schema"), dict):
        return "response_format.json_schema.schema must be an object"
    return None


class _Handler(BaseHTTPRequestHandler):
    server: OpenAIStubServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send(400, {"error": {"message": "body is not JSON"}})
            return
        self.server.record(RecordedRequest(self.path, dict(self.headers.items()), body))
        if self.path.rstrip("/") == "/v1/chat/completions":
            messages = body.get("messages") or []
            system = "\n".join(m.get("content", "") for m in messages if m.get("role") == "system")
            user = "\n".join(m.get("content", "") for m in messages if m.get("role") != "system")
            fmt = body.get("response_format")
            problem = None if fmt is None else response_format_error(fmt)
            if problem:
                self._send(400, {"error": {"message": problem}})
                return
            schema = fmt["json_schema"]["schema"] if fmt and fmt["type"] == "json_schema" else None
            choice = {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": answer_for(system, user, schema=schema),
                },
                "finish_reason": "stop",
            }
            self._send(200, {"object": "chat.completion", "choices": [choice]})
        elif self.path.rstrip("/") == "/v1/completions":
            prompts = body.get("prompt")
            prompts = prompts if isinstance(prompts, list) else [prompts or ""]
            choices = [
                {"index": i, "text": answer_for("", str(p)), "finish_reason": "stop"}
                for i, p in enumerate(prompts)
            ]
            self._send(200, {"object": "text_completion", "choices": choices})
        else:
            self._send(404, {"error": {"message": f"no route {self.path}"}})


class OpenAIStubServer(ThreadingHTTPServer):
    """The server tests hold: base URLs and the request log."""

    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    @property
    def chat_url(self) -> str:
        return f"{self.base_url}/chat/completions"

    @property
    def completions_url(self) -> str:
        return f"{self.base_url}/completions"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def start(self) -> OpenAIStubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def __enter__(self) -> OpenAIStubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
