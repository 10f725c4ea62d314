"""A local stand-in for the File Service the e-mail attachments come from.

    GET /download/<name>  -> the file's bytes (404 when there is no such file)

Files live in memory (`files`); `downloads` counts the requests per name.
"""

from __future__ import annotations

from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from local.servers import HttpStandIn


class FileServiceStandIn(HttpStandIn):
    def __init__(self, host: str = "127.0.0.1", port: int = 0, files: dict[str, bytes] | None = None) -> None:
        self.files: dict[str, bytes] = dict(files or {})
        self.downloads: Counter[str] = Counter()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                prefix = "/download/"
                name = unquote(self.path[len(prefix) :]) if self.path.startswith(prefix) else None
                data = standin.files.get(name) if name is not None else None
                if name is None or data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                standin.downloads[name] += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
