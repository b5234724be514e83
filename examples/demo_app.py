#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""demo_app.py - a tiny application for the README walk-through.

Prints every call msgrelay makes to it and answers 200 SUCCESS, so you can
watch steps being delivered and back-checks being asked:

    python3 examples/demo_app.py 8081

GET /QueryPrepared?gid=... answers 200 (committed) unless the gid starts with
"rollback", then 409 FAILURE (rolled back). Standard library only.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode(errors="replace")
        print(f"POST {self.path}  body={body}", flush=True)
        self.answer(200, {"dtm_result": "SUCCESS"})

    def do_GET(self):
        url = urlsplit(self.path)
        gid = parse_qs(url.query).get("gid", [""])[0]
        print(f"GET  {self.path}", flush=True)
        if url.path.endswith("QueryPrepared") and gid.startswith("rollback"):
            self.answer(409, {"dtm_result": "FAILURE"})
        else:
            self.answer(200, {"dtm_result": "SUCCESS"})

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8081
    print(f"demo app on http://127.0.0.1:{port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
