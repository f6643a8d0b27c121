"""The codec server: lets the Temporal Web UI and CLI show decrypted payloads to those allowed to.

    PAYLOAD_KEYS=... python codec_server.py --port 8081 --origin http://127.0.0.1:8233

The UI calls `POST /decode` (and `/encode` when a person starts or signals from it) with
`{"payloads": [{"metadata": {...base64}, "data": base64}]}`, after a CORS preflight, from the exact
origins given; with `CODEC_TOKEN` set, a request must carry `Authorization: Bearer <token>` (the UI
sends it only to an https endpoint). `temporal workflow show --codec-endpoint http://127.0.0.1:8081`
works the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from adapters.codec import EncryptionCodec, PayloadKeyError, new_key_line
from settings import CodecServerSettings


def make_handler(codec: EncryptionCodec, origins: set[str], token: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _cors(self) -> None:
            origin = self.headers.get("Origin")
            if origin in origins:  # the exact UI origin only; the UI fetches with credentials
                asked = self.headers.get("Access-Control-Request-Headers")
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Access-Control-Allow-Credentials", "true")
                self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
                self.send_header("Access-Control-Allow-Headers", asked or "Content-Type, X-Namespace, Authorization")
                self.send_header("Vary", "Origin")

        def _reply(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self._cors()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_OPTIONS(self) -> None:  # noqa: N802 - the http.server API
            self.send_response(204)
            self._cors()
            self.end_headers()

        def do_POST(self) -> None:  # noqa: N802
            path = urlsplit(self.path).path  # the UI adds a query (?preserveStorageRefs=true)
            if path not in ("/decode", "/encode"):
                return self._reply(404, {"error": "POST /decode or /encode"})
            if token and self.headers.get("Authorization") != f"Bearer {token}":
                return self._reply(401, {"error": "a bearer token is required"})
            try:
                payloads = json_format.Parse(self.rfile.read(int(self.headers.get("Content-Length", 0))), Payloads())
                convert = codec.open if path == "/decode" else codec.seal
                out = Payloads(payloads=[convert(p) for p in payloads.payloads])
            except PayloadKeyError as e:
                return self._reply(422, {"error": str(e)})
            except (json_format.ParseError, ValueError) as e:
                return self._reply(400, {"error": f"not a payloads document: {e}"})
            self._reply(200, json_format.MessageToDict(out))

        def log_message(self, *args) -> None:  # payloads are personal data: never logged
            pass

    return Handler


def serve(port: int, origins: set[str], host: str = "127.0.0.1",
          settings: CodecServerSettings | None = None) -> ThreadingHTTPServer:
    """Keys and token as configured (`settings.CodecServerSettings`) unless given."""
    settings = settings or CodecServerSettings()
    return ThreadingHTTPServer((host, port), make_handler(settings.payload_keys.codec(), origins, settings.token))


def main() -> None:
    parser = argparse.ArgumentParser(prog="codec_server.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--origin", action="append", help="an allowed UI origin (repeat); default the dev UI")
    parser.add_argument("--new-key", metavar="ID", help="print a new key line `ID:<base64>` for PAYLOAD_KEYS and exit")
    args = parser.parse_args()
    if args.new_key:
        print(new_key_line(args.new_key))
        return
    origins = set(args.origin or ["http://127.0.0.1:8233", "http://localhost:8233"])
    server = serve(args.port, origins, args.host)
    print(f"codec server on http://{args.host}:{args.port} for {', '.join(sorted(origins))}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
