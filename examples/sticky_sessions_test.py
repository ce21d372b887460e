#!/usr/bin/env python3
"""examples/sticky_sessions as a user runs it: sessions by cookie keep their worker over many
connections, keep-alive connections go on in the worker they were handed to, and SIGTERM stops
it with exit code 0.

    STICKY_SESSIONS=build/examples/sticky_sessions python3 examples/sticky_sessions_test.py
"""
import os
import re
import signal
import socket
import subprocess
import unittest

PROGRAM = os.environ.get('STICKY_SESSIONS', 'build/examples/sticky_sessions')
DEADLINE = 30  # seconds, for anything that should take one


def request(conn, sid=None):
    """One GET on `conn`; returns (body, set-cookie session or None)."""
    cookie = f'Cookie: theme=dark; sid={sid}\r\n' if sid else ''
    conn.sendall(f'GET / HTTP/1.1\r\nHost: x\r\n{cookie}\r\n'.encode())
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = conn.recv(4096)
        if not chunk:
            raise AssertionError(f'connection closed after {data!r}')
        data += chunk
    head, _, body = data.partition(b'\r\n\r\n')
    length = int(re.search(rb'Content-Length: (\d+)', head).group(1))
    while len(body) < length:
        chunk = conn.recv(4096)
        if not chunk:
            raise AssertionError('connection closed in a body')
        body += chunk
    cookie = re.search(rb'Set-Cookie: sid=([^\r;]+)', head)
    return body.decode(), cookie.group(1).decode() if cookie else None


class StickySessions(unittest.TestCase):
    def setUp(self):
        self.p = subprocess.Popen([PROGRAM, '--port', '0', '--workers', '3'],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  start_new_session=True)
        line = self.p.stdout.readline()
        m = re.match(r'listening on 127\.0\.0\.1:(\d+)', line)
        self.assertTrue(m, line)
        self.port = int(m.group(1))

    def tearDown(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()
        self.p.stdout.close()

    def connect(self):
        conn = socket.create_connection(('127.0.0.1', self.port), timeout=DEADLINE)
        self.addCleanup(conn.close)
        return conn

    def test_sessions_keep_their_worker_and_sigterm_exits_0(self):
        # A first request without a session gets one from the next worker in turn.
        issued = {}
        for _ in range(6):
            body, sid = request(self.connect())
            self.assertIsNotNone(sid, body)
            worker = re.match(r'worker (\d+) session (\S+)', body).group(1)
            issued[sid] = worker
        self.assertEqual(len(set(issued.values())), 3, issued)  # turns went round
        # Each session then lands on one worker, over new connections, whatever the order.
        for sid in list(issued) * 3:
            body, new_sid = request(self.connect(), sid)
            self.assertIsNone(new_sid)
            self.assertEqual(body, f'worker {self.worker_for(sid, issued)} session {sid}\n')
        # A kept-alive connection goes on in the worker it was handed to.
        conn = self.connect()
        first, _ = request(conn, 'alpha')
        second, _ = request(conn, 'alpha')
        self.assertEqual(first, second)
        self.assertRegex(first, r'^worker \d+ session alpha\n$')
        os.kill(self.p.pid, signal.SIGTERM)
        self.assertEqual(self.p.wait(timeout=DEADLINE), 0, self.p.stdout.read())

    def worker_for(self, sid, issued):
        """The worker a session was first seen on (its later requests must match it)."""
        if not hasattr(self, 'seen'):
            self.seen = {}
        if sid not in self.seen:
            body, _ = request(self.connect(), sid)
            self.seen[sid] = re.match(r'worker (\d+)', body).group(1)
        return self.seen[sid]

    def test_a_request_head_that_never_ends_is_closed_not_handed_over(self):
        conn = self.connect()
        conn.sendall(b'GET / HTTP/1.1\r\n' + b'X-Pad: ' + b'a' * 20000 + b'\r\n')
        conn.settimeout(DEADLINE)
        self.assertEqual(conn.recv(1), b'')  # closed by the primary
        body, sid = request(self.connect())  # and it serves on
        self.assertIsNotNone(sid)


if __name__ == '__main__':
    unittest.main()
