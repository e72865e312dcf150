"""A small stand-in for the Prometheus Pushgateway (which is not installed on these machines).

It implements the part of the Pushgateway API the stages use: `PUT`/`POST`
`/metrics/job/<job>/<label>/<value>...` with a text-format body replaces/merges that group's
metrics, and `GET /metrics` exposes every group with its grouping labels added (as the real
Pushgateway does, to be scraped with `honor_labels: true`). Bodies are parsed with
prometheus_client's own parser, so a malformed push fails here too.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from prometheus_client.parser import text_string_to_metric_families


def _grouping(path: str) -> tuple[tuple[str, str], ...]:
    parts = [unquote(p) for p in path.removeprefix("/metrics/").split("/") if p]
    if len(parts) % 2:
        raise ValueError(f"odd grouping path {path}")
    return tuple(zip(parts[::2], parts[1::2], strict=True))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class PushSink:
    def __init__(self) -> None:
        self.groups: dict[tuple[tuple[str, str], ...], list] = {}
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _store(self, replace: bool) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                try:
                    key = _grouping(self.path)
                    families = list(text_string_to_metric_families(body))
                except ValueError as err:
                    self.send_response(400)
                    self.end_headers()
                    self.wfile.write(str(err).encode())
                    return
                with sink.lock:
                    if replace or key not in sink.groups:
                        sink.groups[key] = families
                    else:
                        sink.groups[key] = sink.groups[key] + families
                self.send_response(200)
                self.end_headers()

            def do_PUT(self) -> None:
                self._store(replace=True)

            def do_POST(self) -> None:
                self._store(replace=False)

            def do_GET(self) -> None:
                text = sink.exposition().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.end_headers()
                self.wfile.write(text)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def exposition(self) -> str:
        """All groups as one text exposition, one HELP/TYPE per metric family."""
        families: dict[str, tuple[str, str, list[str]]] = {}
        with self.lock:
            for key, group in self.groups.items():
                for family in group:
                    name = family.name + ("_total" if family.type == "counter" else "")
                    _, _, lines = families.setdefault(name, (family.type, family.documentation, []))
                    for sample in family.samples:
                        if sample.name.endswith("_created"):
                            continue
                        labels = {**sample.labels, **dict(key)}
                        shown = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
                        lines.append(f"{sample.name}{{{shown}}} {sample.value}")
        out = []
        for name, (kind, doc, lines) in sorted(families.items()):
            out += [f"# HELP {name} {doc}", f"# TYPE {name} {kind}", *lines]
        return "\n".join(out) + "\n"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
