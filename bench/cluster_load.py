#!/usr/bin/env python3
"""Two quickstart instances on one PostgreSQL and one Redis, under wrk, with faults.

Run by bench/cluster-load.sh, which builds the binaries. Everything it needs it starts itself
and stops at the end: a PostgreSQL server of its own (initdb into a temporary directory, so that
it can be stopped and restarted without touching the machine's), a redis-server of its own (so
it can be killed), and the two instances, A and B, on that database and that Redis.

Phases, each under wrk load on both instances (wrk's errors are reported per phase):

1. revocations: a token is issued on A, used on B (so B has it cached), revoked on A; the
   time from A's acknowledgement until B refuses it is measured, `rounds` times;
2. an ended membership: removed on A, refused on B (the same measure, for tenant roles);
3. Redis killed in the middle of revocations, then restarted: the same measure while it is
   down, and how long until both instances are subscribed again;
4. PostgreSQL stopped (immediate shutdown, as a crash) and restarted: what is answered while
   it is down (never 200 for a request that could not be checked; bounded time), how long
   until a fresh login works again, and that what was acknowledged before (a revocation and
   an ended membership) is still enforced on both;
5. lockout counted across both instances, and a login storm split across both;
6. both instances' audit chains verified in full, each holding at least as many records as
   the requests wrk saw allowed on that instance.

Prints every figure, and exits 1 when a rule is broken (a revoked token served after the
caches' lifetime, a 200 that could not have been checked, a request held past the bound, a
revocation or ended membership lost, an audit chain broken or short of what was allowed),
never on speed alone.
"""

import argparse
import concurrent.futures
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

# How long a request may take while a dependency is down (the store's 2 s connection wait, with
# room for a loaded machine).
HANG_BOUND = 5.0
# Revocations are cached 5 s: past this a revoked token served is a broken rule, even with every
# message lost.
TTL_BOUND = 5.5
# The propagation goal of issue #18.
GOAL_MS = 100.0

failures = []


def fail(message):
    failures.append(message)
    print(f"  FAILED: {message}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


class Client:
    """One keep-alive HTTP connection to an instance."""

    def __init__(self, port, timeout=10.0):
        self.port = port
        self.timeout = timeout
        self.connection = None

    def request(self, method, path, token=None, body=None):
        """(status, headers, parsed body or text, seconds taken); status 0 when the connection
        failed."""
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        payload = None
        if body is not None:
            payload = json.dumps(body)
            headers["content-type"] = "application/json"
        started = time.monotonic()
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=self.timeout
                )
            try:
                self.connection.request(method, path, body=payload, headers=headers)
                response = self.connection.getresponse()
                raw = response.read()
                try:
                    parsed = json.loads(raw) if raw else None
                except ValueError:
                    parsed = raw.decode(errors="replace")
                return response.status, dict(response.getheaders()), parsed, time.monotonic() - started
            except (OSError, http.client.HTTPException):
                self.connection.close()
                self.connection = None
                if attempt == 1:
                    return 0, {}, None, time.monotonic() - started
        raise AssertionError("unreachable")


def login(client, email, password):
    status, _, body, _ = client.request("POST", "/auth/login", body={"email": email, "password": password})
    if status != 200:
        raise RuntimeError(f"login of {email} answered {status}: {body}")
    return body["access_token"]


class Processes:
    def __init__(self, work):
        self.work = work
        self.running = []

    def spawn(self, name, argv, env=None, user=None):
        log = open(os.path.join(self.work, f"{name}.log"), "w")
        if user:
            argv = ["runuser", "-u", user, "--", *argv]
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.running.append(process)
        return process

    def stop_all(self):
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.running:
            try:
                # An instance flushes its audit trail before it exits (up to 30 s).
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()


class Postgres:
    """A PostgreSQL server of this run's own, stoppable and restartable."""

    def __init__(self, work):
        self.port = free_port()
        self.root = os.path.join(work, "pg")
        self.data = os.path.join(self.root, "data")
        os.makedirs(self.root)
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            # The server runs as postgres: it must reach its directory through this run's.
            os.chmod(work, 0o755)
            shutil.chown(self.root, self.user, self.user)
        self.run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, *argv):
        if self.user:
            argv = ("runuser", "-u", self.user, "--", *argv)
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}")

    def start(self):
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self.run("pg_ctl", "-D", self.data, "-o", options, "-l", os.path.join(self.root, "log"), "-w", "start")

    def crash(self):
        """Immediate shutdown: no checkpoint, connections cut, WAL replayed at the next start."""
        self.run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def stop(self):
        try:
            self.run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
        except RuntimeError:
            pass


class Redis:
    def __init__(self, processes, work):
        self.processes = processes
        self.port = free_port()
        self.work = work
        self.process = None
        self.url = f"redis://127.0.0.1:{self.port}"

    def start(self):
        self.process = self.processes.spawn(
            "redis",
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.work],
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self):
        self.process.kill()
        self.process.wait()


class Instance:
    def __init__(self, name, processes, binary, env, work):
        self.name = name
        self.port = free_port()
        self.log = os.path.join(work, f"{name}.log")
        self.process = processes.spawn(name, [binary], env={**env, "PORT": str(self.port)})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with open(self.log) as f:
                if "listens on" in f.read():
                    break
            if self.process.poll() is not None:
                raise RuntimeError(f"instance {name} exited:\n" + open(self.log).read())
            time.sleep(0.1)
        else:
            raise RuntimeError(f"instance {name} did not start")
        self.chain = f"quickstart-{self.port}"
        self.client = Client(self.port)

    def log_times(self, pattern):
        """Wall-clock times of the log lines matching `pattern`."""
        times = []
        with open(self.log) as f:
            for line in f:
                if pattern in line:
                    stamp = re.search(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z", line)
                    if stamp:
                        whole, _, fraction = stamp.group(1).partition(".")
                        seconds = time.mktime(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) - time.timezone
                        times.append(seconds + float("0." + (fraction or "0")))
        return times


class Load:
    """wrk on both instances for one phase; its counts when stopped."""

    def __init__(self, work, instances, token, connections, phase, everything):
        self.processes = []
        self.outputs = []
        for instance in instances:
            out = os.path.join(work, f"wrk-{phase}-{instance.name}.txt")
            self.outputs.append((instance.name, out))
            self.processes.append(
                subprocess.Popen(
                    ["wrk", "-t1", f"-c{connections}", "-d600s", "--latency", "--timeout", "10s",
                     "-H", f"Authorization: Bearer {token}", f"http://127.0.0.1:{instance.port}/books"],
                    stdout=open(out, "w"), stderr=subprocess.STDOUT,
                )
            )
        # Stopped with everything else if the run fails before this phase ends.
        everything.running.extend(self.processes)

    def stop(self):
        for process in self.processes:
            process.send_signal(signal.SIGINT)
        summary = {}
        for process, (name, out) in zip(self.processes, self.outputs):
            process.wait(timeout=30)
            text = open(out).read()
            number = lambda pattern: float(m.group(1)) if (m := re.search(pattern, text)) else 0.0
            socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
            summary[name] = {
                "requests": int(number(r"(\d+) requests in")),
                "rps": number(r"Requests/sec:\s+([\d.]+)"),
                "non2xx": int(number(r"Non-2xx or 3xx responses: (\d+)")),
                "socket_errors": sum(int(g) for g in socket_errors.groups()) if socket_errors else 0,
                "max": re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", text).group(1) if "Latency" in text else "?",
                "p99": m.group(1) if (m := re.search(r"^\s+99%\s+(\S+)", text, re.M)) else "?",
            }
        return summary


# Requests wrk saw answered 2xx, per instance, over the whole run: each is a decision that took
# effect, so each must have its record in that instance's audit chain at the end.
SERVED = {}


def report_load(summary):
    for name, s in summary.items():
        SERVED[name] = SERVED.get(name, 0) + s["requests"] - s["non2xx"]
        print(f"  wrk on {name}: {s['requests']} requests ({s['rps']:.0f}/s), p99 {s['p99']}, "
              f"max {s['max']}, non-2xx {s['non2xx']}, socket errors {s['socket_errors']}")


def measure_revocation(a, b, account):
    """Issues a token on A, has B cache it, revokes it on A; the milliseconds from A's
    acknowledgement until B refuses it, how many times B still served it meanwhile, and how
    long B took to serve it the first time (the baseline: one answer of B's under this load)."""
    token = login(a.client, *account)
    status, _, _, baseline = b.client.request("GET", "/books", token)
    if status != 200:
        raise RuntimeError(f"B answered {status} to a fresh token")
    status, *_ = a.client.request("POST", "/auth/logout", token)
    acknowledged = time.monotonic()
    if status != 204:
        raise RuntimeError(f"logout on A answered {status}")
    served = 0
    while True:
        status, _, _, _ = b.client.request("GET", "/books", token)
        now = time.monotonic()
        if status == 401:
            return (now - acknowledged) * 1000, served, baseline * 1000
        if status == 200:
            served += 1
        if now - acknowledged > TTL_BOUND:
            fail(f"B still served a token revoked on A {now - acknowledged:.1f} s ago (status {status})")
            return (now - acknowledged) * 1000, served, baseline * 1000


def describe(name, latencies, served, baseline):
    """The change-to-refusal times beside the baseline: B's answers to the same kind of request
    in the same rounds. Where B never served what was revoked, the first request after the
    acknowledgement was already refused, so the figure is that request's own latency."""
    print(f"  {name}: n={len(latencies)} p50 {percentile(latencies, 50):.1f} ms, "
          f"p99 {percentile(latencies, 99):.1f} ms, max {max(latencies):.1f} ms; "
          f"B served what was revoked {sum(served)} times before refusing "
          f"({sum(1 for s in served if s)} of {len(served)} rounds); "
          f"goal p99 <= {GOAL_MS:.0f} ms {'met' if percentile(latencies, 99) <= GOAL_MS else 'NOT met'}",
          flush=True)
    print(f"    baseline, one answer of B's in the same rounds: p50 {percentile(baseline, 50):.1f} ms, "
          f"p99 {percentile(baseline, 99):.1f} ms, max {max(baseline):.1f} ms", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quickstart", required=True)
    parser.add_argument("--audit-verify", required=True)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--outage", type=float, default=3.0)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="portcullis-cluster-")
    processes = Processes(work)
    postgres = None
    try:
        postgres = Postgres(work)
        postgres.start()
        redis = Redis(processes, work)
        redis.start()
        env = {
            **os.environ,
            "DATABASE_URL": postgres.url,
            "REDIS_URL": redis.url,
            "PORTCULLIS_SCHEMA": "quickstart",
            "PORTCULLIS_DB": os.path.join(work, "quickstart.db"),
            "RUST_LOG": "warn,portcullis::cluster=info",
        }
        env.pop("PORTCULLIS_INSTANCE", None)
        # A first, so that one instance creates the schema and the demo data.
        a = Instance("A", processes, args.quickstart, env, work)
        b = Instance("B", processes, args.quickstart, env, work)
        print(f"machine: {os.cpu_count()} cores; two instances on PostgreSQL :{postgres.port} and "
              f"Redis :{redis.port}; wrk 1 thread x {args.connections} connections on each", flush=True)
        editor = ("editor@example.com", "editor-demo-password")
        viewer = ("viewer@example.com", "viewer-demo-password")
        admin_token = login(a.client, "admin@example.com", "admin-demo-password")
        load_token = login(a.client, *viewer)

        print("\n1. revocations on A, refused on B")
        load = Load(work, (a, b), load_token, args.connections, "revocations", processes)
        latencies, served, baseline = [], [], []
        for _ in range(args.rounds):
            ms, n, base = measure_revocation(a, b, editor)
            latencies.append(ms)
            served.append(n)
            baseline.append(base)
        report_load(load.stop())
        describe("revoke-to-refuse", latencies, served, baseline)

        print("\n2. an ended membership: removed on A, refused on B")
        load = Load(work, (a, b), load_token, args.connections, "membership", processes)
        me = b.client.request("GET", "/me", load_token)[2]
        viewer_id = me["subject"] if isinstance(me, dict) and "subject" in me else me.get("sub")
        membership_ms, membership_served, membership_baseline = [], [], []
        for _ in range(min(args.rounds, 20)):
            status, _, body, _ = a.client.request(
                "GET", f"/tenants/globex/assignments?subject_kind=user&subject={viewer_id}", admin_token)
            items = body.get("assignments") if isinstance(body, dict) else None
            if status != 200 or not items:
                raise RuntimeError(f"assignments answered {status}: {body}")
            assignment = items[0]
            status, _, _, took = b.client.request("GET", "/orgs/globex/books", load_token)
            if status != 200:
                raise RuntimeError(f"the viewer is a reader at globex, but B answered {status}")
            membership_baseline.append(took * 1000)
            status, *_ = a.client.request("DELETE", f"/tenants/globex/assignments/{assignment['id']}", admin_token)
            acknowledged = time.monotonic()
            if status not in (200, 204):
                raise RuntimeError(f"unassign answered {status}")
            served = 0
            while True:
                status, *_ = b.client.request("GET", "/orgs/globex/books", load_token)
                now = time.monotonic()
                if status == 403:
                    membership_ms.append((now - acknowledged) * 1000)
                    membership_served.append(served)
                    break
                if status == 200:
                    served += 1
                if now - acknowledged > 31:
                    fail("B kept a removed membership past the cache lifetime")
                    break
            status, _, body, _ = a.client.request(
                "POST", "/tenants/globex/assignments", admin_token,
                {"role_id": assignment["role_id"], "subject_kind": "user", "subject": viewer_id})
            if status != 201:
                raise RuntimeError(f"assign answered {status}: {body}")
            # A grant travels like a revocation: B allows once it has heard, well within its
            # caches' lifetime (it may refuse for a few milliseconds, never longer).
            granted = time.monotonic()
            while b.client.request("GET", "/orgs/globex/books", load_token)[0] != 200:
                if time.monotonic() - granted > 31:
                    raise RuntimeError("B never saw a membership granted again on A")
                time.sleep(0.002)
        report_load(load.stop())
        describe("unassign-to-refuse", membership_ms, membership_served, membership_baseline)

        print(f"\n3. Redis killed during revocations, restarted after {args.outage:.0f} s")
        load = Load(work, (a, b), load_token, args.connections, "redis", processes)
        down_latencies, down_served, down_baseline = [], [], []
        killed = time.time()
        redis.kill()
        while time.time() - killed < args.outage:
            ms, n, base = measure_revocation(a, b, editor)
            down_latencies.append(ms)
            down_served.append(n)
            down_baseline.append(base)
        restarted = time.time()
        redis.start()
        after_latencies, after_served, after_baseline = [], [], []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if all(i.log_times("redis subscription back") and i.log_times("redis subscription back")[-1] > restarted
                   for i in (a, b)):
                break
            ms, n, base = measure_revocation(a, b, editor)
            after_latencies.append(ms)
            after_served.append(n)
            after_baseline.append(base)
        back = [max([t for t in i.log_times("redis subscription back") if t > restarted], default=float("nan"))
                for i in (a, b)]
        for _ in range(20):
            ms, n, base = measure_revocation(a, b, editor)
            after_latencies.append(ms)
            after_served.append(n)
            after_baseline.append(base)
        summary = load.stop()
        report_load(summary)
        describe("while Redis was down", down_latencies, down_served, down_baseline)
        print(f"  subscribed again {(back[0] - restarted) * 1000:.0f} ms (A) and {(back[1] - restarted) * 1000:.0f} ms (B) "
              f"after Redis restarted")
        if any(b != b for b in back):
            fail("an instance did not resubscribe within 10 s of Redis coming back")
        describe("after Redis came back", after_latencies, after_served, after_baseline)
        for name, s in summary.items():
            if s["non2xx"] or s["socket_errors"]:
                fail(f"wrk on {name} saw {s['non2xx']} refusals and {s['socket_errors']} socket errors "
                     "while Redis was down (no request needs Redis)")

        print(f"\n4. PostgreSQL crashed (immediate shutdown) under load, restarted after {args.outage:.0f} s")
        # Acknowledged before the fault: a revocation and a removed membership.
        revoked = login(a.client, *editor)
        b.client.request("GET", "/books", revoked)
        a.client.request("POST", "/auth/logout", revoked)
        time.sleep(0.2)
        if b.client.request("GET", "/books", revoked)[0] != 401:
            fail("a revocation was not enforced on B before the fault")
        status, _, body, _ = a.client.request(
            "GET", f"/tenants/globex/assignments?subject_kind=user&subject={viewer_id}", admin_token)
        ended = (body.get("assignments") or [None])[0] if isinstance(body, dict) else None
        if status != 200 or not ended:
            raise RuntimeError(f"assignments answered {status}: {body}")
        status, *_ = a.client.request("DELETE", f"/tenants/globex/assignments/{ended['id']}", admin_token)
        if status not in (200, 204):
            raise RuntimeError(f"unassign answered {status}")
        time.sleep(0.2)
        if b.client.request("GET", "/orgs/globex/books", load_token)[0] != 403:
            fail("a membership ended on A was not enforced on B before the fault")
        unseen = login(a.client, *editor)
        load = Load(work, (a, b), load_token, args.connections, "postgres", processes)
        time.sleep(1)
        crashed = time.monotonic()
        postgres.crash()
        answers = {"unseen token on B": {}, "revoked token on B": {}, "login on A": {}, "cached token on B": {}}
        slowest = 0.0
        checks = 0
        while time.monotonic() - crashed < args.outage:
            for label, call in (
                ("unseen token on B", lambda: b.client.request("GET", "/books", unseen)),
                ("revoked token on B", lambda: b.client.request("GET", "/books", revoked)),
                ("cached token on B", lambda: b.client.request("GET", "/books", load_token)),
                ("login on A", lambda: a.client.request("POST", "/auth/login",
                                                      body={"email": editor[0], "password": editor[1]})),
            ):
                status, headers, _, took = call()
                checks += 1
                slowest = max(slowest, took)
                key = f"{status}" + (" with Retry-After" if status == 503 and "retry-after" in {h.lower() for h in headers} else "")
                answers[label][key] = answers[label].get(key, 0) + 1
                if took > HANG_BOUND:
                    fail(f"{label}: answered after {took:.1f} s while PostgreSQL was down")
        for label, counts in answers.items():
            print(f"  {label}: {dict(sorted(counts.items()))}")
        print(f"  slowest answer while down: {slowest * 1000:.0f} ms over {checks} probes")
        if answers["unseen token on B"].get("200"):
            fail("B served a token it could not check against the revocations")
        if answers["revoked token on B"].get("200"):
            fail("B served a revoked token while PostgreSQL was down")
        if answers["login on A"].get("200"):
            fail("a login succeeded without the database")
        if any(k.startswith("503") and "Retry-After" not in k for c in answers.values() for k in c):
            fail("a 503 came without Retry-After")
        restarted_pg = time.monotonic()
        postgres.start()
        started = time.monotonic()
        recovered = None
        while time.monotonic() - started < 30:
            status, _, body, _ = a.client.request("POST", "/auth/login", body={"email": editor[0], "password": editor[1]})
            if status == 200 and b.client.request("GET", "/books", body["access_token"])[0] == 200:
                recovered = time.monotonic()
                break
            time.sleep(0.05)
        summary = load.stop()
        report_load(summary)
        print(f"  PostgreSQL start took {(started - restarted_pg) * 1000:.0f} ms; a fresh login on A served by B "
              f"{(recovered - started) * 1000:.0f} ms after it was up" if recovered else "  never recovered")
        if recovered is None:
            fail("the instances did not recover within 30 s of PostgreSQL coming back")
        for instance in (a, b):
            if instance.client.request("GET", "/books", revoked)[0] != 401:
                fail(f"{instance.name} served a token revoked before the fault")
            if instance.client.request("GET", "/orgs/globex/books", load_token)[0] != 403:
                fail(f"{instance.name} allowed a membership ended before the fault")
        if b.client.request("GET", "/books", unseen)[0] != 200:
            fail("a valid token is refused after recovery")

        print("\n5. lockout and a login storm, across both instances")
        stamp = int(time.time() * 1000)
        for kind in ("lockout", "storm"):
            status, _, body, _ = a.client.request("POST", "/auth/register", body={
                "email": f"{kind}-{stamp}@example.com", "password": "a long enough password 1"})
            if status != 201:
                raise RuntimeError(f"register answered {status}: {body}")
        statuses = []
        for attempt in range(8):
            client = (a, b)[attempt % 2].client
            statuses.append(client.request("POST", "/auth/login", body={
                "email": f"lockout-{stamp}@example.com", "password": f"wrong {attempt}"})[0])
        right = b.client.request("POST", "/auth/login", body={
            "email": f"lockout-{stamp}@example.com", "password": "a long enough password 1"})[0]
        print(f"  8 wrong passwords alternating A, B: {statuses}; then the right one on B: {right}")
        if statuses.count(401) != 5 or right != 429:
            fail("the lockout was not counted across both instances (5 failures, then 429)")

        def attempt(i):
            client = Client((a, b)[i % 2].port)
            return client.request("POST", "/auth/login", body={
                "email": f"storm-{stamp}@example.com", "password": f"guess {i}"})[0]

        with concurrent.futures.ThreadPoolExecutor(40) as pool:
            storm = list(pool.map(attempt, range(40)))
        counts = {s: storm.count(s) for s in sorted(set(storm))}
        print(f"  40 guesses at once, 20 on each: {counts} (401: checked and wrong; 429: refused before the hash)")
        if storm.count(401) > 5 or storm.count(200):
            fail("a login storm split across the instances reached the password check more than 5 times")

        print("\n6. audit chains")
    except BaseException:
        # Nothing of the run is left behind: no instance, no wrk, no PostgreSQL server.
        processes.stop_all()
        if postgres:
            postgres.stop()
        raise
    processes.stop_all()
    try:
        for instance in (a, b):
            result = subprocess.run(
                [args.audit_verify, "--chain", instance.chain],
                env={**env, "DATABASE_URL": postgres.url}, capture_output=True, text=True)
            print(f"  {instance.name}: {result.stdout.strip() or result.stderr.strip()}")
            if result.returncode != 0 or "records verified" not in result.stdout:
                fail(f"the audit chain of {instance.name} did not verify")
                continue
            records = int(re.search(r"(\d+) records verified", result.stdout).group(1))
            print(f"    {SERVED.get(instance.name, 0)} requests wrk saw allowed on {instance.name}, "
                  f"{records} records: every one recorded" if records >= SERVED.get(instance.name, 0)
                  else f"    only {records} records for {SERVED.get(instance.name, 0)} allowed requests")
            if records < SERVED.get(instance.name, 0):
                fail(f"{instance.name} allowed requests whose records are not in its chain")
    finally:
        if postgres:
            postgres.stop()
        if failures:
            print(f"\nlogs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("\n" + ("FAILED:\n  " + "\n  ".join(failures) if failures else "every rule held"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
