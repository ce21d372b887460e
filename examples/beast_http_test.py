#!/usr/bin/env python3
"""examples/beast_http (Boost.Beast in every worker, cocluster on Boost.Asio) as an operator runs
it: requests over several kept-alive connections, answered by more than one worker, then SIGTERM.

    BEAST_HTTP=build/examples/beast_http python3 examples/beast_http_test.py [-v]

(`meson test -C build beast_http` sets it.)
"""
import os
import re
import signal
import socket
import subprocess
import unittest

from examples_test import DEADLINE, Program

BEAST_HTTP = os.environ.get('BEAST_HTTP', 'build/examples/beast_http')


class Connection:
    """One client connection that sends GETs and reads whole responses (Content-Length)."""

    def __init__(self, port):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=10)
        self.pending = b''

    def get(self, close=False):
        """(status line, headers dict with lowercased names, body) of one GET."""
        request = 'GET / HTTP/1.1\r\nHost: localhost\r\n'
        request += 'Connection: close\r\n\r\n' if close else '\r\n'
        self.sock.sendall(request.encode())
        while b'\r\n\r\n' not in self.pending:
            self._fill()
        head, self.pending = self.pending.split(b'\r\n\r\n', 1)
        status, *lines = head.decode().split('\r\n')
        headers = {name.strip().lower(): value.strip()
                   for name, value in (line.split(':', 1) for line in lines)}
        length = int(headers['content-length'])
        while len(self.pending) < length:
            self._fill()
        body, self.pending = self.pending[:length].decode(), self.pending[length:]
        return status, headers, body

    def closed_by_server(self):
        """True when the server closes its side with nothing more to read."""
        return self.pending == b'' and self.sock.recv(4096) == b''

    def _fill(self):
        chunk = self.sock.recv(4096)
        if not chunk:
            raise ConnectionError('closed in the middle of a response: %r' % self.pending)
        self.pending += chunk

    def close(self):
        self.sock.close()


def parent_of(pid):
    with open(f'/proc/{pid}/status') as status:
        return int(re.search(r'^PPid:\s+(\d+)$', status.read(), re.M).group(1))


class BeastHttp(unittest.TestCase):
    def test_workers_answer_kept_alive_connections_and_sigterm_stops_with_exit_0(self):
        program = Program([BEAST_HTTP, '--port', '0', '--workers', '3'])
        self.addCleanup(program.kill_all)
        m, _ = program.wait_for(r'^primary (\d+): 3 workers share port (\d+)$')
        self.assertEqual(int(m.group(1)), program.p.pid)
        port = int(m.group(2))

        answered = 0
        pids = set()
        connections = [Connection(port) for _ in range(9)]
        try:
            for round_ in range(4):
                for i, connection in enumerate(connections):
                    status, headers, body = connection.get(close=(round_ == 3))
                    self.assertEqual(status, 'HTTP/1.1 200 OK', program.output())
                    self.assertEqual(headers.get('server'), 'cocluster beast_http')
                    pid = int(re.fullmatch(r'worker (\d+)\n', body).group(1))
                    if round_ == 0:
                        self.assertNotIn('connection', headers)  # kept alive (HTTP/1.1)
                        connection.pid = pid
                    # a kept-alive connection stays with the worker it was handed to
                    self.assertEqual(pid, connection.pid, f'connection {i}, round {round_}')
                    pids.add(pid)
                    answered += 1
            for connection in connections:  # the last request asked for the close
                self.assertTrue(connection.closed_by_server())
        finally:
            for connection in connections:
                connection.close()
        self.assertEqual(answered, 36)
        # more than one worker served, and each is a child of the primary, not the primary
        self.assertGreater(len(pids), 1, pids)
        for pid in pids:
            self.assertEqual(parent_of(pid), program.p.pid)

        os.kill(program.p.pid, signal.SIGTERM)
        self.assertEqual(program.finish(), 0, program.output())
        out = program.output()
        self.assertIn(f'primary: signal {int(signal.SIGTERM)}, disconnecting the workers', out)
        exited = re.findall(r'^primary: worker \d+ \(pid (\d+)\) exited: exit code 0$', out, re.M)
        self.assertEqual(len(exited), 3, out)
        self.assertLessEqual(pids, set(map(int, exited)))

    def test_a_bad_command_line_exits_2(self):
        for args in (['--workers', '0'], ['--port', 'x'], ['--nope']):
            r = subprocess.run([BEAST_HTTP, *args], capture_output=True, text=True,
                               timeout=DEADLINE)
            self.assertEqual(r.returncode, 2, args)
            self.assertRegex(r.stderr, r'^(usage|beast_http: bad value)')


if __name__ == '__main__':
    unittest.main(verbosity=2)
