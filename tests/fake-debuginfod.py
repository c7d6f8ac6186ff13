#!/usr/bin/env python3
"""A debuginfod server for the tests, on loopback, that holds its answers.

    fake-debuginfod.py PORTFILE DIR RELEASE

Serves GET /buildid/ID/debuginfo from DIR/ID.debug (404 when absent), but
only once the file RELEASE exists: until then each request waits (polling
for it, up to 300 s), so a test can prove that nothing waits for it. Each
request first creates DIR/ID.asked. Writes its port to PORTFILE once
listening."""
import http.server
import os
import re
import sys
import time

portfile, root, release = sys.argv[1:4]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        m = re.fullmatch(r"/buildid/([0-9a-f]+)/debuginfo", self.path)
        if not m:
            self.send_error(404)
            return
        bid = m.group(1)
        open(os.path.join(root, bid + ".asked"), "w").close()
        deadline = time.monotonic() + 300
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.05)
        path = os.path.join(root, bid + ".debug")
        if not os.path.exists(path):
            self.send_error(404)
            return
        with open(path, "rb") as f:
            data = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client killed while held (the tests do that) is no error


srv = Server(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
