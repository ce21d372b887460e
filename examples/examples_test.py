#!/usr/bin/env python3
"""The examples as an operator runs them: real processes, real sockets, signals.

    HTTP_CLUSTER=build/examples/http_cluster SUPERVISED_READY=build/examples/supervised_ready \\
        python3 examples/examples_test.py [-v] [TestCase.test_name ...]

(`meson test -C build examples` sets both.) Waits are bounded by generous deadlines; nothing
asserts on speed.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

try:  # Debian's python3-prometheus-client: the README's test command installs it
    from prometheus_client.parser import text_string_to_metric_families
    PROMETHEUS_MISSING = None
except ImportError:
    # A python3 of its own first on PATH (pyenv, a virtualenv) does not see Debian's packages:
    # the parser is pure Python, take it from there.
    sys.path.append('/usr/lib/python3/dist-packages')
    try:
        from prometheus_client.parser import text_string_to_metric_families
        PROMETHEUS_MISSING = None
    except ImportError as e:
        PROMETHEUS_MISSING = e

HTTP_CLUSTER = os.environ.get('HTTP_CLUSTER', 'build/examples/http_cluster')
SUPERVISED_READY = os.environ.get('SUPERVISED_READY', 'build/examples/supervised_ready')
DEADLINE = 60  # seconds, for anything that should take one


class Program:
    """A running program whose stdout lines are collected by a thread."""

    def __init__(self, args, **kwargs):
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, start_new_session=True, **kwargs)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stdout:
            with self.cond:
                self.lines.append(line.rstrip('\n'))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)  # end of output
            self.cond.notify_all()

    def wait_for(self, pattern, start=0, timeout=DEADLINE):
        """The first match of `pattern` in the lines from `start` on, and its line index."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.lines):
                    line = self.lines[i]
                    if line is None:
                        raise AssertionError(f'ended before /{pattern}/:\n' + self.output())
                    m = regex.search(line)
                    if m:
                        return m, i
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f'no /{pattern}/ within {timeout} s:\n' + self.output())
                self.cond.wait(left)

    def output(self):
        return '\n'.join(line for line in self.lines if line is not None)

    def finish(self, timeout=DEADLINE):
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()
            raise AssertionError(f'still running after {timeout} s:\n' + self.output())
        self.reader.join(10)
        return rc

    def kill_all(self):
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.p.wait()
        self.reader.join(10)
        self.p.stdout.close()


def http_get(port, keep=None):
    """One GET. With `keep` (a dict), on a kept-alive connection stored there, reopened after a
    `Connection: close`. Returns the response; raises on any failure."""
    sock = keep.get('socket') if keep is not None else None
    if sock is None:
        sock = socket.create_connection(('127.0.0.1', port), timeout=10)
    request = 'GET / HTTP/1.1\r\nHost: localhost\r\n'
    request += '\r\n' if keep is not None else 'Connection: close\r\n\r\n'
    try:
        sock.sendall(request.encode())
        data = b''
        while not data.endswith(b'Hello World\n'):
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError('closed before a response: %r' % data)
            data += chunk
        response = data.decode()
        if not response.startswith('HTTP/1.1 200 OK\r\n'):
            raise ConnectionError('bad response: %r' % response)
        closing = 'Connection: close' in response
        if keep is not None and not closing:
            keep['socket'] = sock
            return response
        if keep is not None:
            keep['socket'] = None
        sock.close()
        return response
    except BaseException:
        sock.close()
        if keep is not None:
            keep['socket'] = None
        raise


class Load:
    """Clients sending requests in a loop (keep-alive and `Connection: close`), counting the
    requests answered and those that failed, until stopped (at most `limit` each)."""

    def __init__(self, port, keep_alive_clients=2, close_clients=1, limit=200000):
        self.port, self.limit = port, limit
        self.ok = self.failed = 0
        self.errors = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(k,), daemon=True)
                        for k in [True] * keep_alive_clients + [False] * close_clients]
        for t in self.threads:
            t.start()

    def _client(self, keep_alive):
        keep = {} if keep_alive else None
        for _ in range(self.limit):
            if self.done.is_set():
                break
            try:
                http_get(self.port, keep)
                with self.lock:
                    self.ok += 1
            except OSError as e:
                with self.lock:
                    self.failed += 1
                    self.errors.append(repr(e))
        if keep and keep.get('socket'):
            keep['socket'].close()

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(DEADLINE)


READY = r'worker (\d+) \(pid (\d+), slot \d+\) ready'


class HttpClusterCommandLine(unittest.TestCase):
    def run_it(self, *args, env=None):
        return subprocess.run([HTTP_CLUSTER, *args], capture_output=True, text=True,
                              timeout=DEADLINE, env=env)

    def test_help_prints_usage_and_exits_0(self):
        r = self.run_it('--help')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('usage: http_cluster', r.stdout)
        self.assertIn('--drain-timeout', r.stdout)
        self.assertIn('SIGHUP', r.stdout)
        self.assertIn('--health', r.stdout)
        self.assertIn('--min-ready', r.stdout)
        self.assertIn('SIGUSR2', r.stdout)

    def test_bad_values_exit_2_with_a_message(self):
        for args in [['--port', 'abc'], ['--port', '70000'], ['--workers', '0'],
                     ['--policy', 'foo'], ['--demo', '-1'], ['--kill-timeout', '0'], ['--port'],
                     ['--metrics-port', '-1'], ['--metrics-address', 'localhost:1'],
                     ['--socket-name', 'a:b'], ['--socket-name', ''],
                     ['--health'], ['--metrics-port', '0', '--min-ready', '2'],
                     ['--metrics-port', '0', '--health', '--min-ready', '0'],
                     ['--metrics-port', '0', '--health', '--min-ready', 'x'],
                     ['--upgrade-timeout', '0']]:
            with self.subTest(args=args):
                r = self.run_it(*args)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertIn('http_cluster:', r.stderr)
                self.assertEqual(r.stdout, '')

    def test_unknown_flag_exits_2(self):
        r = self.run_it('--bogus')
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown option '--bogus'", r.stderr)

    def test_worker_of_a_primary_speaking_advanced_exits_1_with_a_message(self):
        # Started as a worker by a primary that speaks the other serialization: the cluster
        # cannot be made. A message and exit code 1, not std::terminate (SIGABRT).
        ours, theirs = socket.socketpair()
        env = dict(os.environ, NODE_UNIQUE_ID='1', NODE_CHANNEL_SERIALIZATION_MODE='advanced',
                   NODE_CHANNEL_FD=str(theirs.fileno()))
        r = subprocess.run([HTTP_CLUSTER], capture_output=True, text=True, timeout=DEADLINE,
                           env=env, pass_fds=[theirs.fileno()])
        ours.close()
        theirs.close()
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn('serialization', r.stderr)


class HttpClusterSignals(unittest.TestCase):
    def start(self, *args):
        program = Program([HTTP_CLUSTER, '--port', '0', '--workers', '2', '--drain-timeout',
                           '3000', '--kill-timeout', '8000', *args])
        self.addCleanup(program.kill_all)
        m, at = program.wait_for(r'^primary \d+: 2 workers share port (\d+) \(policy rr\)$')
        pids = {int(p.group(2)) for p in map(re.compile(READY).search, program.lines[:at]) if p}
        self.assertEqual(len(pids), 2, program.output())
        return program, int(m.group(1)), pids, at

    def test_sighup_reloads_every_worker_without_a_failed_request_and_sigterm_exits_0(self):
        program, port, pids, at = self.start()
        self.assertIn('Hello World', http_get(port))
        load = Load(port)
        try:
            while load.ok < 20 and not load.failed:  # the load runs before the reload
                time.sleep(0.05)
            for _ in range(3):  # (a reload takes a few tens of ms: three windows for a loss)
                os.kill(program.p.pid, signal.SIGHUP)
                _, begun = program.wait_for(r'^supervisor: pool reload_started$', at)
                _, at = program.wait_for(r'^supervisor: pool reload_finished$', begun)
                new_pids = {int(p.group(2)) for p in map(re.compile(READY).search,
                                                         program.lines[begun:at]) if p}
                self.assertEqual(len(new_pids), 2, program.output())
                self.assertFalse(new_pids & pids, program.output())
                # every old worker was retired gracefully and has exited
                for pid in pids:
                    program.wait_for(rf'^supervisor: worker \d+ \(pid {pid}, slot \d+\) '
                                     r'exited: exit code 0$', begun)
                pids = new_pids
                served = load.ok
                while load.ok < served + 20 and not load.failed:  # the new ones serve
                    time.sleep(0.05)
        finally:
            load.stop()
        self.assertEqual(load.failed, 0, '\n'.join(load.errors[:5]) + '\n' + program.output())
        self.assertIn('Hello World', http_get(port))

        os.kill(program.p.pid, signal.SIGTERM)
        self.assertEqual(program.finish(), 0, program.output())
        out = program.output()
        self.assertIn('supervisor: pool stopping', out)
        self.assertIn('supervisor: pool stopped', out)
        total = int(re.search(r'^total: (\d+) requests$', out, re.M).group(1))
        self.assertGreaterEqual(total, load.ok + 2)  # every answered request was counted

    def test_scale_and_replace_a_killed_worker(self):
        program, port, pids, at = self.start()
        os.kill(program.p.pid, signal.SIGTTIN)
        _, at = program.wait_for(r'^supervisor: pool scaled to 3 workers', at)
        program.wait_for(READY, at)
        os.kill(program.p.pid, signal.SIGTTOU)
        _, at = program.wait_for(r'^supervisor: pool scaled to 2 workers', at)
        program.wait_for(r'^supervisor: worker \d+ \(pid \d+, slot 2\) exited: exit code 0$', at)
        victim = min(pids)
        os.kill(victim, signal.SIGKILL)
        _, at = program.wait_for(rf'^supervisor: worker \d+ \(pid {victim}, slot \d+\) crashed', at)
        program.wait_for(READY, at)
        self.assertIn('Hello World', http_get(port))
        os.kill(program.p.pid, signal.SIGINT)
        self.assertEqual(program.finish(), 0, program.output())

    def test_sigterm_to_the_whole_process_group_still_drains(self):
        # systemd's default KillMode sends SIGTERM to every process of the service at once:
        # the workers leave it to the supervisor, which stops them gracefully.
        program, port, pids, at = self.start()
        self.assertIn('Hello World', http_get(port))
        os.killpg(program.p.pid, signal.SIGTERM)
        self.assertEqual(program.finish(), 0, program.output())
        out = program.output()
        for pid in pids:
            self.assertRegex(out, rf'worker \d+ \(pid {pid}, slot \d+\) exited: exit code 0')


def scrape(port, path='/metrics'):
    """GET `path` from the metrics port: (status line, headers dict, body)."""
    with socket.create_connection(('127.0.0.1', port), timeout=10) as sock:
        sock.sendall(f'GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n'.encode())
        data = b''
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.decode().partition('\r\n\r\n')
    status, *lines = head.split('\r\n')
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(':') for line in lines)}
    assert int(headers['content-length']) == len(body.encode()), head
    return status, headers, body


class Metrics:
    """A parsed scrape: `value(name, **labels)`, `sum(name, **labels)`, `samples(name)`."""

    def __init__(self, text):
        self.families = list(text_string_to_metric_families(text))
        self.by_name = {}
        for family in self.families:
            for sample in family.samples:
                self.by_name.setdefault(sample.name, []).append(sample)

    def samples(self, name, **labels):
        return [s for s in self.by_name.get(name, [])
                if all(s.labels.get(k) == v for k, v in labels.items())]

    def value(self, name, **labels):
        found = self.samples(name, **labels)
        assert len(found) == 1, (name, labels, found)
        return found[0].value

    def sum(self, name, **labels):
        return sum(s.value for s in self.samples(name, **labels))

    def per_worker(self, name, **labels):
        return {s.labels['worker']: s.value for s in self.samples(name, **labels)}


class HttpClusterMetrics(unittest.TestCase):
    """--metrics-port: what /metrics says, parsed by Prometheus's own Python parser, against
    what the test did."""

    def setUp(self):
        if PROMETHEUS_MISSING:  # a failure, not a skip: the README's test command installs it
            self.fail(f'python3-prometheus-client is needed ({PROMETHEUS_MISSING})')
        self.program = Program([HTTP_CLUSTER, '--port', '0', '--workers', '2', '--metrics-port',
                                '0', '--drain-timeout', '3000', '--kill-timeout', '8000'])
        self.addCleanup(self.program.kill_all)
        m, _ = self.program.wait_for(r'^metrics: http://127\.0\.0\.1:(\d+)/metrics$')
        self.metrics_port = int(m.group(1))
        m, at = self.program.wait_for(r'^primary \d+: 2 workers share port (\d+) \(policy rr\)$')
        self.port = int(m.group(1))
        self.pids = {p.group(1): p.group(2)
                     for p in map(re.compile(READY).search, self.program.lines[:at]) if p}

    def scrape(self):
        status, headers, body = scrape(self.metrics_port)
        self.assertEqual(status, 'HTTP/1.1 200 OK')
        self.assertEqual(headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8')
        return Metrics(body)

    def settle(self, condition, what):
        """Scrapes until `condition(metrics)` holds (10 s at most); returns that scrape."""
        deadline = time.monotonic() + 10
        while True:
            metrics = self.scrape()
            if condition(metrics):
                return metrics
            if time.monotonic() > deadline:
                self.fail(f'{what}: never true; the last scrape:\n' +
                          scrape(self.metrics_port)[2])
            time.sleep(0.02)

    def test_counters_match_the_connections_and_messages_the_test_made(self):
        user_received = 'cocluster_worker_ipc_messages_received_total'
        handed = 'cocluster_worker_connections_handed_total'
        # Each worker sends its request count once it listens (a user message), then whenever
        # its last connection ends.
        m = self.settle(lambda m: m.sum(user_received, kind='user') == 2, 'two first reports')
        self.assertEqual(m.sum(handed), 0)
        self.assertEqual(m.value('cocluster_workers', state='listening'), 2)
        info = {s.labels['worker']: s.labels for s in m.samples('cocluster_worker_info')}
        self.assertEqual({w: l['pid'] for w, l in info.items()}, self.pids)
        self.assertEqual({l['kind'] for l in info.values()}, {'cocluster'})

        # One request per connection, each after the previous one's report arrived: every
        # connection is one hand-over and one user message, exactly.
        requests = 10
        for i in range(1, requests + 1):
            self.assertIn('Hello World', http_get(self.port))
            m = self.settle(lambda m: m.sum(handed) == i and
                            m.sum(user_received, kind='user') == 2 + i, f'connection {i}')
        got = m.per_worker(handed)
        self.assertEqual(set(got), set(self.pids))
        self.assertLessEqual(max(got.values()) - min(got.values()), 1)  # round-robin
        reports = m.per_worker(user_received, kind='user')
        for worker, count in got.items():
            self.assertEqual(reports[worker], 1 + count)
            self.assertGreaterEqual(
                m.value('cocluster_worker_ipc_messages_sent_total', worker=worker,
                        kind='internal'), count)  # (a newconn each)
            self.assertEqual(m.value('cocluster_worker_open_connections', worker=worker), 0)
            self.assertGreater(m.value('cocluster_worker_resident_memory_bytes', worker=worker),
                               0)
            self.assertGreater(m.value('cocluster_worker_ipc_received_bytes_total',
                                       worker=worker), 0)
        self.assertEqual(m.sum('cocluster_worker_connections_refused_total'), 0)
        self.assertEqual(m.value('cocluster_connections_handed_total'), requests)
        self.assertEqual(m.value('cocluster_ipc_messages_received_total', kind='user'),
                         2 + requests)
        self.assertEqual(m.value('cocluster_ipc_messages_sent_total', kind='user'), 0)
        self.assertEqual(m.sum('cocluster_slot_restarts_total'), 0)
        self.assertGreater(m.value('cocluster_primary_resident_memory_bytes'), 0)
        self.assertGreaterEqual(m.value('cocluster_primary_cpu_seconds_total'), 0)
        for family in m.families:
            self.assertTrue(family.name.startswith('cocluster_'), family.name)
            self.assertTrue(family.documentation, family.name)
            self.assertIn(family.type, ('counter', 'gauge'), family.name)

        # Under load (new connections only), scrapes parse and counters only grow; then every
        # request made is a hand-over.
        load = Load(self.port, keep_alive_clients=0, close_clients=2)
        try:
            before = m
            for _ in range(3):
                time.sleep(0.2)
                now = self.scrape()
                for name in (handed, user_received, 'cocluster_ipc_sent_bytes_total'):
                    self.assertGreaterEqual(now.sum(name), before.sum(name), name)
                before = now
        finally:
            load.stop()
        self.assertEqual(load.failed, 0, '\n'.join(load.errors[:5]))
        self.assertGreater(load.ok, 0)
        m = self.settle(lambda m: m.sum(handed) == requests + load.ok, 'the load\'s hand-overs')
        self.assertEqual(m.value('cocluster_connections_handed_total'), requests + load.ok)

        status, _, body = scrape(self.metrics_port, '/other')
        self.assertEqual(status, 'HTTP/1.1 404 Not Found')
        # The requests each worker says it served are the connections handed to it.
        os.kill(self.program.p.pid, signal.SIGTERM)
        self.assertEqual(self.program.finish(), 0, self.program.output())
        served = {w: int(n) for w, n in re.findall(r'^worker (\d+) \(pid \d+\): (\d+) requests$',
                                                   self.program.output(), re.M)}
        self.assertEqual(served, {w: int(v) for w, v in m.per_worker(handed).items()})


def probe(port, path):
    """GET `path` from the metrics port: (status code, body)."""
    status, _, body = scrape(port, path)
    return int(status.split(' ')[1]), body


class HttpClusterHealth(unittest.TestCase):
    """--health: /healthz and /readyz on the metrics port, as Kubernetes' probes ask them."""

    def start(self, *args, port='0'):
        program = Program([HTTP_CLUSTER, '--port', port, '--workers', '2', '--metrics-port', '0',
                           '--health', '--drain-timeout', '3000', '--kill-timeout', '8000',
                           *args])
        self.addCleanup(program.kill_all)
        m, _ = program.wait_for(r'^metrics: http://127\.0\.0\.1:(\d+)/metrics$')
        return program, int(m.group(1))

    def settle(self, port, path, status, what):
        """Asks `path` until it answers `status` (10 s at most); returns the body."""
        deadline = time.monotonic() + 10
        while True:
            code, body = probe(port, path)
            if code == status:
                return body
            if time.monotonic() > deadline:
                self.fail(f'{what}: {path} still answers {code}: {body}')
            time.sleep(0.02)

    def test_readyz_is_200_once_the_minimum_is_ready_and_healthz_200_and_other_paths_404(self):
        program, metrics = self.start('--min-ready', '2')
        program.wait_for(r'^primary \d+: 2 workers share port')
        code, body = probe(metrics, '/readyz')
        self.assertEqual((code, body), (200, 'ready: 2 of 2 workers ready, at least 2 needed\n'))
        self.assertEqual(probe(metrics, '/healthz'), (200, 'alive\n'))
        self.assertEqual(probe(metrics, '/metrics')[0], 200)
        self.assertEqual(probe(metrics, '/nothing-here')[0], 404)
        self.assertEqual(probe(metrics, '/readyz/')[0], 404)

    def test_readyz_is_503_below_the_minimum_and_200_once_a_worker_more_is_ready(self):
        program, metrics = self.start('--min-ready', '3')
        m, _ = program.wait_for(r'^primary (\d+): 2 workers share port')
        code, body = probe(metrics, '/readyz')
        self.assertEqual((code, body),
                         (503, 'not ready: 2 of 2 workers ready, at least 3 needed\n'))
        os.kill(int(m.group(1)), signal.SIGTTIN)  # a third worker
        body = self.settle(metrics, '/readyz', 200, 'a third worker')
        self.assertEqual(body, 'ready: 3 of 3 workers ready, at least 3 needed\n')

    def test_readyz_is_503_while_no_worker_could_start(self):
        with socket.socket() as taken:  # the port is taken: every worker's listen fails
            taken.bind(('127.0.0.1', 0))
            taken.listen()
            program, metrics = self.start(port=str(taken.getsockname()[1]))
            program.wait_for(r'boot_failed')
            code, body = probe(metrics, '/readyz')
            self.assertEqual(code, 503, body)
            self.assertRegex(body, r'^not ready: 0 of 2 workers ready')
            self.assertEqual(probe(metrics, '/healthz')[0], 200)

    def test_readyz_is_503_and_healthz_200_once_sigterm_started_the_drain(self):
        program, metrics = self.start()
        m, _ = program.wait_for(r'^primary (\d+): 2 workers share port (\d+)')
        self.assertEqual(probe(metrics, '/readyz')[0], 200)
        keep = {}  # a kept-alive connection holds its worker in the drain
        self.assertIn('Hello World', http_get(int(m.group(2)), keep))
        os.kill(int(m.group(1)), signal.SIGTERM)
        body = self.settle(metrics, '/readyz', 503, 'the stop')
        self.assertRegex(body, r'^stopping: ')
        self.assertEqual(probe(metrics, '/healthz'), (200, 'alive\n'))
        keep['socket'].close()
        self.assertEqual(program.finish(), 0, program.output())


try:  # Debian's python3-yaml (the README's test command installs it), as for prometheus_client
    import yaml
    YAML_MISSING = None
except ImportError as e:
    YAML_MISSING = e

KUBERNETES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'kubernetes')


class KubernetesManifest(unittest.TestCase):
    """examples/kubernetes/deployment.yaml against the example: its arguments parse, its probes
    ask the paths and port the arguments serve, and its grace period covers preStop and the
    supervisor's kill timeout. (No cluster runs it here.)"""

    def setUp(self):
        if YAML_MISSING:  # a failure, not a skip: the README's test command installs it
            self.fail(f'python3-yaml is needed ({YAML_MISSING})')
        with open(os.path.join(KUBERNETES, 'deployment.yaml')) as f:
            documents = list(yaml.safe_load_all(f))
        self.kinds = {d['kind']: d for d in documents}
        self.pod = self.kinds['Deployment']['spec']['template']['spec']
        self.container = self.pod['containers'][0]
        self.args = self.container['args']

    def arg(self, flag):
        return self.args[self.args.index(flag) + 1]

    def port_number(self, port):
        """A probe's or Service's port: a number or the name of a container port."""
        if isinstance(port, int):
            return port
        return {p['name']: p['containerPort'] for p in self.container['ports']}[port]

    def test_the_arguments_are_a_valid_command_line_with_the_probes_on(self):
        r = subprocess.run([HTTP_CLUSTER, *self.args, '--help'], capture_output=True, text=True,
                           timeout=DEADLINE)  # (--help last: every flag before it is checked)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('--health', self.args)
        self.assertNotIn('--workers', self.args)  # the pool size comes from the CPU limit
        self.assertEqual(self.arg('--metrics-address'), '0.0.0.0')  # the kubelet probes the IP

    def test_the_probes_ask_healthz_and_readyz_on_the_metrics_port(self):
        metrics = int(self.arg('--metrics-port'))
        for probe_name, path in [('livenessProbe', '/healthz'), ('readinessProbe', '/readyz')]:
            with self.subTest(probe=probe_name):
                get = self.container[probe_name]['httpGet']
                self.assertEqual(get['path'], path)
                self.assertEqual(self.port_number(get['port']), metrics)
        service = self.kinds['Service']['spec']['ports'][0]
        self.assertEqual(self.port_number(service['targetPort']), int(self.arg('--port')))

    def test_the_grace_period_covers_prestop_and_the_kill_timeout(self):
        usage = subprocess.run([HTTP_CLUSTER, '--help'], capture_output=True, text=True,
                               timeout=DEADLINE).stdout
        kill_ms = int(re.search(r'--kill-timeout MS.*\(default (\d+)\)', usage).group(1))
        drain_ms = int(re.search(r'--drain-timeout MS[^(]*\(default (\d+)\)', usage,
                                 re.S).group(1))
        self.assertNotIn('--kill-timeout', self.args)  # the defaults, read above
        self.assertLess(drain_ms, kill_ms)
        command = self.container['lifecycle']['preStop']['exec']['command']
        self.assertEqual(command[0], 'sleep')
        pre_stop = int(command[1])
        self.assertGreater(pre_stop, 0)
        self.assertGreater(self.pod['terminationGracePeriodSeconds'], pre_stop + kill_ms / 1000)

    def test_the_cpu_limit_is_a_whole_pool(self):
        limits = self.container['resources']['limits']['cpu']
        cpus = int(limits[:-1]) / 1000 if str(limits).endswith('m') else float(limits)
        self.assertGreaterEqual(cpus, 1)
        self.assertEqual(self.container['resources']['requests']['cpu'], limits)


UNSHARE = shutil.which('unshare')


@unittest.skipIf(os.geteuid() != 0 or UNSHARE is None, 'needs root and unshare (a PID namespace)')
class HttpClusterAsPid1(unittest.TestCase):
    """The example as a container's entry point: PID 1 of a new PID namespace."""

    def start(self, *args):
        program = Program([UNSHARE, '--pid', '--fork', '--kill-child', '--mount-proc',
                           HTTP_CLUSTER, '--workers', '2', '--drain-timeout', '3000',
                           '--kill-timeout', '8000', *args])
        self.addCleanup(program.kill_all)
        return program

    def init_of(self, program):
        """The namespace's PID 1, as this namespace numbers it: unshare's one child."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(f'/proc/{program.p.pid}/task/{program.p.pid}/children') as f:
                children = f.read().split()
            if children:
                return int(children[0])
            time.sleep(0.01)
        self.fail('unshare started no child')

    def test_sigterm_to_pid_1_drains_and_exits_0(self):
        program = self.start('--port', '0')
        m, _ = program.wait_for(r'^primary (\d+): 2 workers share port (\d+)')
        self.assertEqual(m.group(1), '1')
        self.assertIn('Hello World', http_get(int(m.group(2))))
        os.kill(self.init_of(program), signal.SIGTERM)
        self.assertEqual(program.finish(), 0, program.output())
        self.assertEqual(len(re.findall(r'exited: exit code 0', program.output())), 2)

    def test_sigusr2_to_pid_1_refuses_the_upgrade_and_serves_on(self):
        program = self.start('--port', '0')
        m, _ = program.wait_for(r'^primary (\d+): 2 workers share port (\d+)')
        os.kill(self.init_of(program), signal.SIGUSR2)
        program.wait_for(r'upgrade_failed.*PID 1')
        self.assertIn('Hello World', http_get(int(m.group(2))))
        os.kill(self.init_of(program), signal.SIGTERM)
        self.assertEqual(program.finish(), 0, program.output())

    def test_a_crash_loop_as_pid_1_exits_1(self):
        with socket.socket() as taken:  # every worker's listen fails
            taken.bind(('127.0.0.1', 0))
            taken.listen()
            program = self.start('--port', str(taken.getsockname()[1]))
            self.assertEqual(program.finish(120), 1, program.output())
        self.assertIn('crash_loop', program.output())


SOCKET_ACTIVATE = shutil.which('systemd-socket-activate')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class NotifySocket:
    """A datagram socket for NOTIFY_SOCKET (what systemd listens on), read by a thread."""

    def __init__(self):
        self.path = f'/tmp/cocluster-example-notify-{os.getpid()}-{time.monotonic_ns()}'
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while not self.done.is_set():
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass

    def index(self, line, start=0, timeout=DEADLINE):
        """The index of the first message from `start` on holding `line`, waiting for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, m in enumerate(self.messages[start:], start):
                if line in m.split('\n'):
                    return i
            time.sleep(0.02)
        raise AssertionError(f'no {line} in {self.messages}')

    def close(self):
        self.done.set()
        self.thread.join(10)
        self.sock.close()
        os.unlink(self.path)


@unittest.skipIf(SOCKET_ACTIVATE is None, 'needs systemd-socket-activate (the systemd package)')
class HttpClusterUnderSystemd(unittest.TestCase):
    """The example as examples/systemd/ runs it: systemd's socket (systemd-socket-activate
    binds it and starts the program on the first connection, as a .socket unit does) and its
    notify socket."""

    def test_serves_the_activated_socket_named_http_and_notifies_ready_reload_and_stop(self):
        port = free_port()
        notify = NotifySocket()
        self.addCleanup(notify.close)
        # (systemd-socket-activate passes on only the variables named with -E)
        program = Program([SOCKET_ACTIVATE, '-l', f'127.0.0.1:{port}', '--fdname=http',
                           '-E', f'NOTIFY_SOCKET={notify.path}', HTTP_CLUSTER, '--port', '0',
                           '--socket-name', 'http', '--workers', '2', '--drain-timeout', '3000',
                           '--kill-timeout', '8000'])
        self.addCleanup(program.kill_all)
        program.wait_for(r'^Listening on 127\.0\.0\.1:')
        first = []  # the first connection starts the program and waits in the socket
        trigger = threading.Thread(target=lambda: first.append(http_get(port)))
        trigger.start()
        m, at = program.wait_for(r'^primary (\d+): 2 workers share port (\d+) \(policy rr\)$')
        trigger.join(DEADLINE)
        self.assertIn('Hello World', first[0])
        self.assertEqual(int(m.group(2)), port, program.output())
        primary = int(m.group(1))
        pids = {int(p.group(2)) for p in map(re.compile(READY).search, program.lines[:at]) if p}
        ready = notify.index('READY=1')
        self.assertIn(f'MAINPID={primary}', notify.messages[ready].split('\n'))
        self.assertIn('STATUS=2/2 workers ready', notify.messages[ready].split('\n'))
        for _ in range(40):
            self.assertIn('Hello World', http_get(port))
        os.kill(primary, signal.SIGHUP)
        reloading = notify.index('RELOADING=1', ready + 1)
        notify.index('READY=1', reloading + 1)
        os.kill(primary, signal.SIGTERM)
        self.assertEqual(program.finish(), 0, program.output())
        notify.index('STOPPING=1', reloading + 1)
        served = {int(p): int(n) for p, n in re.findall(r'^worker \d+ \(pid (\d+)\): (\d+) '
                                                        r'requests$', program.output(), re.M)}
        for pid in pids:  # the first workers each served some of the 41 requests
            self.assertGreater(served.get(pid, 0), 0, program.output())


PR_SET_CHILD_SUBREAPER = 36


def set_child_subreaper(on):
    """Orphans of our descendants become our children (prctl(PR_SET_CHILD_SUBREAPER))."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), 'prctl(PR_SET_CHILD_SUBREAPER)')


def open_files(pid):
    """The sockets and pipes of `pid`'s descriptors from 3 on ("socket:[123]", "pipe:[45]": an
    inode each, shared by the processes that hold it)."""
    files = set()
    for fd in os.listdir(f'/proc/{pid}/fd'):
        if int(fd) >= 3:
            try:
                target = os.readlink(f'/proc/{pid}/fd/{fd}')
            except FileNotFoundError:
                continue
            if target.startswith(('socket:', 'pipe:')):
                files.add(target)
    return files


def listed_sockets():
    """The "socket:[inode]" of every socket the kernel lists in /proc/net/{tcp,udp,unix}{,6}
    (a bound TCP socket that does not listen is not listed), with the local port of the IP
    ones (None for Unix sockets)."""
    found = {}
    for table in ['tcp', 'tcp6', 'udp', 'udp6']:
        with open(f'/proc/net/{table}') as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                found[f'socket:[{fields[9]}]'] = int(fields[1].split(':')[1], 16)
    with open('/proc/net/unix') as f:
        for line in f.readlines()[1:]:
            found[f'socket:[{line.split()[6]}]'] = None
    return found


def wait_gone(pid):
    deadline = time.monotonic() + DEADLINE
    while os.path.exists(f'/proc/{pid}') and time.monotonic() < deadline:
        time.sleep(0.02)
    return not os.path.exists(f'/proc/{pid}')


class HttpClusterHotUpgrade(unittest.TestCase):
    """SIGUSR2: the primary runs its program again by the path it was started with (a copy of
    the example here, replaced by a "new release" before each upgrade), hands it the listening
    socket, and exits 0 once the new primary's workers are ready. The test process is a child
    subreaper: a new primary, orphaned when the one that started it exits, becomes its child,
    so that its exit status can be read."""

    def setUp(self):
        set_child_subreaper(True)
        self.addCleanup(set_child_subreaper, False)
        self.dir = tempfile.mkdtemp(prefix='cocluster-upgrade-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.binary = os.path.join(self.dir, 'http_cluster')
        shutil.copy2(HTTP_CLUSTER, self.binary)
        self.adopted = []  # primaries started by upgrades: killed and reaped at the end
        self.addCleanup(self.reap_adopted)

    def reap_adopted(self):
        for pid in self.adopted:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass

    def install(self, script=None):
        """A new release at the program's path (a new file, as a package manager installs it):
        the example again, or a shell script."""
        staged = self.binary + '.new'
        if script is None:
            shutil.copy2(HTTP_CLUSTER, staged)
        else:
            with open(staged, 'w') as f:
                f.write(script)
            os.chmod(staged, 0o755)
        os.replace(staged, self.binary)

    def start(self, *args):
        program = Program([self.binary, '--port', '0', '--workers', '2', '--drain-timeout',
                           '3000', '--kill-timeout', '8000', *args])
        self.addCleanup(program.kill_all)
        m, at = program.wait_for(r'^primary (\d+): 2 workers share port (\d+) \(policy \w+\)$')
        pids = {int(p.group(2)) for p in map(re.compile(READY).search, program.lines[:at]) if p}
        self.assertEqual(len(pids), 2, program.output())
        self.assertEqual(int(m.group(1)), program.p.pid)
        return program, int(m.group(2)), pids, at

    def exit_code(self, program, primary):
        if primary == program.p.pid:
            return program.p.wait(DEADLINE)
        _, status = os.waitpid(primary, 0)  # (ours: adopted when its parent exited)
        return os.waitstatus_to_exitcode(status)

    def test_two_sigusr2_upgrades_in_a_row_under_load_fail_no_request_and_old_primaries_exit_0(self):
        self.upgrade_twice_under_load('rr')

    def test_two_upgrades_with_a_shared_socket_fail_no_request(self):
        self.upgrade_twice_under_load('none')

    def test_two_upgrades_under_reuse_port_fail_no_request_the_slots_sockets_passed_on(self):
        self.upgrade_twice_under_load('reuseport')

    def upgrade_twice_under_load(self, policy):
        program, port, pids, at = self.start('--policy', policy)
        primary = program.p.pid
        before = open_files(primary)
        load = Load(port)
        try:
            while load.ok < 20 and not load.failed:
                time.sleep(0.05)
            for round in range(2):
                self.install()
                os.kill(primary, signal.SIGUSR2)
                m, begun = program.wait_for(r'^supervisor: pool upgrade_started: new primary '
                                            r'(\d+) ', at)
                new = int(m.group(1))
                self.adopted.append(new)
                _, ready = program.wait_for(rf'^primary {new}: 2 workers share port {port} ',
                                            begun)
                _, at = program.wait_for(rf'^supervisor: pool upgraded: new primary {new} is '
                                         rf'ready; primary {primary} stops$', begun)
                new_pids = {int(p.group(2)) for p in map(re.compile(READY).search,
                                                         program.lines[begun:ready]) if p}
                self.assertEqual(len(new_pids), 2, program.output())
                self.assertFalse(new_pids & pids, program.output())
                self.assertNotEqual(new, primary)
                if round == 0:
                    # Nothing of the old primary reached the new one but the sockets of the port
                    # (stdin, stdout and stderr aside): no channel, pipe or other socket.
                    shared = before & open_files(new)
                    self.assertTrue(shared, program.output())
                    self.assertFalse({f for f in shared if f.startswith('pipe:')})
                    listed = listed_sockets()
                    self.assertEqual({listed[f] for f in shared if f in listed} - {port}, set(),
                                     program.output())
                for pid in pids:  # the old workers drained and left
                    program.wait_for(rf'^supervisor: worker \d+ \(pid {pid}, slot \d+\) '
                                     r'exited: exit code 0$', begun)
                self.assertEqual(self.exit_code(program, primary), 0, program.output())
                primary, pids = new, new_pids
                served = load.ok
                while load.ok < served + 20 and not load.failed:  # the new workers serve
                    time.sleep(0.05)
        finally:
            load.stop()
        self.assertEqual(load.failed, 0, '\n'.join(load.errors[:5]) + '\n' + program.output())
        self.assertIn('Hello World', http_get(port))
        os.kill(primary, signal.SIGTERM)
        self.assertEqual(self.exit_code(program, primary), 0, program.output())
        program.wait_for(r'^total: \d+ requests$', at)

    def test_upgrades_under_a_connection_close_load_fail_no_request(self):
        # Every request on a new connection: the old primary has accepted some that no worker
        # took yet when it hands over (queued in it, or held by a worker not yet accepting
        # them), and each must still be answered by an old worker, not closed unanswered.
        program, port, pids, at = self.start()
        primary = program.p.pid
        load = Load(port, keep_alive_clients=0, close_clients=24, limit=20000)
        try:
            while load.ok < 50 and not load.failed:
                time.sleep(0.05)
            for _ in range(3):
                self.install()
                os.kill(primary, signal.SIGUSR2)
                m, at = program.wait_for(rf'^supervisor: pool upgraded: new primary (\d+) is '
                                         rf'ready; primary {primary} stops$', at)
                new = int(m.group(1))
                self.adopted.append(new)
                self.assertEqual(self.exit_code(program, primary), 0, program.output())
                primary = new
                served = load.ok
                while load.ok < served + 50 and not load.failed:  # the new workers serve
                    time.sleep(0.05)
        finally:
            load.stop()
        self.assertEqual(load.failed, 0, '\n'.join(load.errors[:5]) + '\n' + program.output())
        os.kill(primary, signal.SIGTERM)
        self.assertEqual(self.exit_code(program, primary), 0, program.output())

    def test_systemd_hears_the_new_main_pid_and_no_stopping_from_the_old_primary(self):
        notify = NotifySocket()
        self.addCleanup(notify.close)
        program = Program([self.binary, '--port', '0', '--workers', '2', '--drain-timeout',
                           '3000', '--kill-timeout', '8000'],
                          env=dict(os.environ, NOTIFY_SOCKET=notify.path))
        self.addCleanup(program.kill_all)
        _, at = program.wait_for(r'^primary \d+: 2 workers share port \d+ ')
        primary = program.p.pid
        ready = notify.index('READY=1')
        self.install()
        os.kill(primary, signal.SIGUSR2)
        m, begun = program.wait_for(r'^supervisor: pool upgraded: new primary (\d+) is ready', at)
        new = int(m.group(1))
        self.adopted.append(new)
        self.assertEqual(self.exit_code(program, primary), 0, program.output())
        # The old primary names its successor (systemd takes MAINPID= from the main process),
        # and the new one says READY=1 with its own pid (NotifyAccess=all).
        handed = notify.index(f'MAINPID={new}', ready + 1)
        self.assertIn('READY=1', notify.messages[handed].split('\n'))
        # The old primary's stop is not the service's: no STOPPING=1 until the new one stops.
        self.assertFalse([m for m in notify.messages if 'STOPPING=1' in m.split('\n')],
                         notify.messages)
        os.kill(new, signal.SIGTERM)
        self.assertEqual(self.exit_code(program, new), 0, program.output())
        notify.index('STOPPING=1', handed + 1)

    @unittest.skipIf(SOCKET_ACTIVATE is None, 'needs systemd-socket-activate (the systemd package)')
    def test_the_socket_systemd_passed_serves_across_two_upgrades(self):
        port = free_port()
        program = Program([SOCKET_ACTIVATE, '-l', f'127.0.0.1:{port}', '--fdname=http',
                           self.binary, '--port', '0', '--socket-name', 'http', '--workers', '2',
                           '--drain-timeout', '3000', '--kill-timeout', '8000'])
        self.addCleanup(program.kill_all)
        program.wait_for(r'^Listening on 127\.0\.0\.1:')
        first = []  # the first connection starts the program
        trigger = threading.Thread(target=lambda: first.append(http_get(port)))
        trigger.start()
        m, at = program.wait_for(r'^primary (\d+): 2 workers share port (\d+) ')
        trigger.join(DEADLINE)
        self.assertIn('Hello World', first[0])
        primary = int(m.group(1))
        for _ in range(2):
            self.install()
            os.kill(primary, signal.SIGUSR2)
            m, at = program.wait_for(r'^supervisor: pool upgraded: new primary (\d+) is ready',
                                     at + 1)
            self.assertEqual(self.exit_code(program, primary), 0, program.output())
            primary = int(m.group(1))
            self.adopted.append(primary)
            # the new primary serves systemd's socket, named as systemd named it
            program.wait_for(rf'^primary {primary}: 2 workers share port {port} ')
            for _ in range(10):
                self.assertIn('Hello World', http_get(port))
        os.kill(primary, signal.SIGTERM)
        self.assertEqual(self.exit_code(program, primary), 0, program.output())

    def test_a_release_that_exits_or_never_gets_ready_is_killed_and_the_old_primary_serves_on(self):
        program, port, pids, at = self.start('--upgrade-timeout', '2000')
        primary = program.p.pid
        load = Load(port)
        try:
            for script, failure in [
                    ('#!/bin/sh\nexit 3\n', 'exited before it was ready: exit code 3'),
                    ('#!/bin/sh\nexec sleep 60\n',
                     'was not ready within the upgrade timeout of 2000 ms')]:
                self.install(script)
                os.kill(primary, signal.SIGUSR2)
                m, begun = program.wait_for(r'^supervisor: pool upgrade_failed: the new primary '
                                            r'\(pid (\d+)\) (.*)$', at)
                self.assertEqual(m.group(2), failure, program.output())
                self.assertTrue(wait_gone(int(m.group(1))), program.output())  # killed, reaped
                served = load.ok
                while load.ok < served + 20 and not load.failed:  # the old workers serve on
                    time.sleep(0.05)
                at = begun + 1
        finally:
            load.stop()
        self.assertEqual(load.failed, 0, '\n'.join(load.errors[:5]) + '\n' + program.output())
        started = re.findall(r'^supervisor: worker \d+ \(pid \d+, slot \d+\) started$',
                             program.output(), re.M)
        self.assertEqual(len(started), 2, program.output())  # no worker was replaced
        os.kill(primary, signal.SIGTERM)
        self.assertEqual(program.finish(), 0, program.output())
        for pid in pids:  # the same workers served throughout
            self.assertRegex(program.output(), rf'worker \d+ \(pid {pid}, slot \d+\) exited: '
                                               r'exit code 0')


class SupervisedReady(unittest.TestCase):
    def test_runs_reloads_stops_and_exits_0(self):
        r = subprocess.run([SUPERVISED_READY], capture_output=True, text=True, timeout=DEADLINE)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for line in ['supervisor: pool pool_ready to 2 workers', 'supervisor: pool reload_finished',
                     'supervisor: pool stopped']:
            self.assertIn(line, r.stdout)
        self.assertEqual(len(re.findall(r'^worker \d+: ready on port', r.stdout, re.M)), 4)


if __name__ == '__main__':
    unittest.main(verbosity=2)
