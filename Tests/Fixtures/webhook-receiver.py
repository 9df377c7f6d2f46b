#!/usr/bin/env python3
"""A webhook receiver for Slipway's tests, written apart from Slipway's code.

It verifies X-Signature the way a receiver written for Flux's generic-hmac provider does
(HMAC-SHA256 of the raw body under the shared key, compared in constant time), appends
each request to a JSON-lines file, answers 500 to the first FAIL requests and takes DELAY
seconds to answer. Listens on 127.0.0.1 only; prints its port first.

usage: webhook-receiver.py KEY LOG FAIL DELAY
"""
import hashlib
import hmac
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

key, log, fail, delay = sys.argv[1].encode(), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
received = 0


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        global received
        length = min(int(self.headers.get("Content-Length", "0")), 1 << 20)
        body = self.rfile.read(length)
        expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        verified = hmac.compare_digest(self.headers.get("X-Signature", ""), expected)
        received += 1
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        with open(log, "a") as out:
            out.write(json.dumps({"n": received, "at": time.time(), "verified": verified, "event": event}) + "\n")
        time.sleep(delay)
        status = 401 if not verified else 500 if received <= fail else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *arguments):
        pass


server = HTTPServer(("127.0.0.1", 0), Receiver)
print(server.server_port, flush=True)
server.serve_forever()
