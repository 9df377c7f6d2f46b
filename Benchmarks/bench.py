"""Slipway's benchmarks (see README, "Performance"). Generates repositories with
`git fast-import`, times commands with hyperfine, and writes Benchmarks/results.md.

Every process it starts is stopped before it returns; traffic goes to 127.0.0.1 only."""
import hashlib, json, os, platform, random, re, shutil, socket, subprocess, sys, tempfile, threading, time, urllib.request
from pathlib import Path

BIN = Path(sys.argv[1])
SLIPWAY = str(BIN / "slipway")
ONLY = sys.argv[2:] or ["plan", "history", "apply", "traffic", "daemon", "observe", "resources", "recover", "chaos", "crash"]
RESULTS = Path(__file__).parent / "results.md"
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}

def run(argv, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True, env=GIT_ENV, **kwargs)

def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()

def fast_import(repo: Path, commits):
    """commits: iterable of (message, {path: bytes}); written on refs/heads/main."""
    run(["git", "init", "-q", "-b", "main", str(repo)])
    process = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=repo, stdin=subprocess.PIPE, env=GIT_ENV)
    out = process.stdin
    stamp = 1_790_000_000
    for index, (message, files) in enumerate(commits):
        msg = message.encode()
        out.write(b"commit refs/heads/main\n")
        out.write(b"committer Bench <bench@example.com> %d +0000\n" % (stamp + index))
        out.write(b"data %d\n%s\n" % (len(msg), msg))
        for path, data in files.items():
            out.write(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data))
    out.close()
    if process.wait() != 0:
        raise SystemExit("git fast-import failed")
    run(["git", "checkout", "-q", "main"], cwd=repo)

def hyperfine(commands: dict, runs=20, warmup=3, prepare=None):
    with tempfile.NamedTemporaryFile(suffix=".json") as export:
        argv = ["hyperfine", "--style", "none", "--warmup", str(warmup), "--runs", str(runs), "--export-json", export.name]
        argv += ["--prepare", prepare] if prepare else []
        for name, command in commands.items():
            argv += ["--command-name", name, command]
        subprocess.run(argv, check=True, capture_output=True)
        data = json.load(open(export.name))
    return {r["command"]: r for r in data["results"]}

def ms(seconds): return f"{seconds * 1000:.1f} ms"

def captured_environment(work: Path):
    """A manifest and the Status file Slipway wrote for it, from a real `slipway apply` (2
    instances of the demo service, rolling), to be varied into as many environments as needed."""
    repo, port = work / "plan-capture", free_port()
    run(["git", "init", "-q", "-b", "main", str(repo)]); (repo / "Environments").mkdir()
    text = small_manifest("envzq", "1.0.0", port).replace(b"replicas: 1", b"replicas: 2")
    (repo / "Environments/envzq.yaml").write_bytes(text)
    run(["git", "add", "-A"], cwd=repo); run(["git", "commit", "-q", "-m", "Release envzq 1.0.0"], cwd=repo)
    try:
        run([SLIPWAY, "apply", "--repo", str(repo)])
        status = run(["git", "show", "HEAD:Status/envzq.md"], cwd=repo).stdout.encode()
    finally:
        subprocess.run([SLIPWAY, "down", "--repo", str(repo)], capture_output=True)
    return text, status, port

def plan_repository(work: Path, count: int, captured, secret=None):
    """`count` environments from the captured one, each with the Status file Slipway wrote (its
    name, address and manifest blob put in); then half of them get a new version. With no state
    directory and nothing running, the other half plan as "repair". With `secret`, every manifest
    names that secret (`env:` reference): a machine without it holds them all."""
    text, status, port = captured
    if secret:
        text = text.replace(b"run:\n", b'run:\n  secrets: { TOKEN: "env:%s" }\n' % secret.encode(), 1)
    repo = work / f"plan-{count}{'-held' if secret else ''}"
    def manifest_of(i, version):
        return text.replace(b"envzq", b"env-%05d" % i).replace(b"127.0.0.1:%d" % port, b"127.0.0.1:%d" % (20000 + i)).replace(b'"1.0.0"', f'"{version}"'.encode())
    v1 = {f"Environments/env-{i:05d}.yaml": manifest_of(i, "1.0.0") for i in range(count)}
    blob = re.search(rb"^manifest: ([0-9a-f]{40})$", status, re.M).group(1)
    statuses = {f"Status/env-{i:05d}.md": status.replace(b"envzq", b"env-%05d" % i).replace(blob, blob_id(v1[f"Environments/env-{i:05d}.yaml"]).encode())
                for i in range(count)}
    v2 = {f"Environments/env-{i:05d}.yaml": manifest_of(i, "2.0.0") for i in range(0, count, 2)}
    fast_import(repo, [("Manifests", v1), ("Deployed", statuses), ("Release 2.0.0 to half", v2)])
    run(["git", "gc", "-q"], cwd=repo)
    plan = subprocess.run([SLIPWAY, "plan", "--repo", str(repo)], capture_output=True, text=True)
    if secret:
        assert plan.stdout.count(": held ") == count, f"expected {count} held:\n{plan.stdout[:500]}{plan.stderr[:500]}"
        return repo
    updates, repairs = plan.stdout.count(": update "), plan.stdout.count(": repair ")
    assert updates == count // 2 and repairs == count - count // 2, f"expected {count // 2} updates, plan said {updates} and {repairs} repairs:\n{plan.stdout[:500]}{plan.stderr[:500]}"
    return repo

def bench_plan(work: Path):
    """slipway plan over 1,000 and 10,000 environments made from a real apply's manifest and
    Status file (half to update, half to repair), beside `git ls-tree -r HEAD` of the same
    repository: cold (no cache file), warm (the file of the plan before), and after a commit that
    changes one manifest (the file of the tree before)."""
    captured = captured_environment(work)
    rows = []
    for count, runs in [(1_000, 20), (10_000, 8)]:
        repo = plan_repository(work, count, captured)
        cache = repo / ".git/slipway/cache/plan"
        # before each timed run, a person's commit of a new version of one environment
        bump = f"python3 {Path(__file__).parent / 'bump_version.py'} {repo / 'Environments/env-00001.yaml'} {work / f'bumps-{count}'}"
        slipway_plan = f"{SLIPWAY} plan --repo {repo}"
        rows += hyperfine_rows({f"slipway plan ({count:,} environments), cold: no cache file": slipway_plan}, runs, prepare=f"rm -f {cache}")
        rows += hyperfine_rows({f"slipway plan ({count:,}), warm: the cache file of the plan before": slipway_plan}, runs)
        rows += hyperfine_rows({f"slipway plan ({count:,}), after a commit that changes one manifest (cache file of the tree before)": slipway_plan}, runs,
                               prepare=bump)
        rows += hyperfine_rows({f"slipway validate ({count:,}; what the server's pre-receive hook runs per push)": f"{SLIPWAY} validate --repo {repo}",
                                f"git ls-tree -r HEAD ({count:,})": f"git -C {repo} ls-tree -r HEAD"}, runs)
    for count in (1_000, 10_000):
        samples = daemon_at_scale(work, count, captured)
        import statistics
        for what, values in [(f"daemon: `git commit` returned → pipeline started, one environment of {count:,} changed ({len(samples)} commits; spread: max)",
                              [after for _, after in samples]),
                             (f"daemon: `git commit` started → pipeline started, the same commits (spread: max)", [before for before, _ in samples])]:
            rows.append((what, statistics.median(values), statistics.mean(values), max(values)))
    return "plan", "`slipway plan` over 1,000 and 10,000 environments (half to update, half to repair), each run a fresh process; " \
        "the daemon's time from a commit to the pipeline it starts", rows, \
        "goals: plan 1,000 < 150 ms cold, < 30 ms warm; 10,000 < 1.5 s cold, < 150 ms warm; daemon < 50 ms at 10,000"

def hyperfine_rows(commands: dict, runs: int, prepare=None):
    results = hyperfine(commands, runs=runs, warmup=0 if prepare else 2, prepare=prepare)
    return [(name, r["median"], r["mean"], r["stddev"]) for name, r in results.items()]

def daemon_at_scale(work: Path, count: int, captured, commits=10):
    """Commit → pipeline started for one environment of a repository of `count`: the others are
    real manifests and Status files this machine lacks a secret for (held: planned on every
    commit, never run). The daemon watches the clone a person commits in (inotify on the ref);
    the person commits a new version of `web` `commits` times. Returns, per commit, the time
    from `git commit` starting and from its return to the pipeline's start, in seconds."""
    repo = plan_repository(work, count, captured, secret="SLIPWAY_BENCH_ABSENT")
    port, samples = free_port(), []
    daemon = start_daemon(repo, "--poll", "1h")
    def person(argv):  # the daemon may hold git's index lock for its record commit: try again
        for _ in range(1000):
            result = subprocess.run(argv, cwd=repo, capture_output=True, text=True, env=GIT_ENV)
            # A try that git reported failed may have landed all the same (its ref update raced the
            # daemon's record commit, which keeps it): the tree is then clean, with the change in it.
            if result.returncode == 0 or "nothing to commit, working tree clean" in result.stdout:
                return
            time.sleep(0.01)
        raise SystemExit(f"{argv} kept failing: {result.stdout}{result.stderr}")
    try:
        wait_until(lambda: "held: this machine lacks" in (repo.parent / f"daemon-{repo.name}.log").read_text(), 600, "the daemon's first plan")
        for round_ in range(commits + 1):
            (repo / "Environments/web.yaml").write_bytes(small_manifest("web", f"1.0.{round_}", port))
            person(["git", "add", "Environments/web.yaml"])
            before = time.time()
            person(["git", "commit", "-q", "-m", f"Release web 1.0.{round_}"])
            after = time.time()
            started = record_started(repo, f"1.0.{round_}", 120)
            if round_ > 0:  # the first commit may meet the daemon still settling
                samples.append((started - before, started - after))
    finally:
        daemon.terminate(); daemon.wait(60)
        subprocess.run([SLIPWAY, "down", "--repo", str(repo)], capture_output=True)
    return samples

def record_started(repo: Path, version: str, seconds):
    """The `started` time of the record of web `version` in `repo`, once it is committed."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        out = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%s", "main"], capture_output=True, text=True).stdout
        if f"→ {version} succeeded" in out:
            break
        time.sleep(0.02)
    else:
        raise SystemExit(f"no record for web {version}")
    record = run(["git", "-C", str(repo), "show", "--name-only", "--format=", "main"]).stdout.split()
    path = next(p for p in record if p.startswith("Deployments/"))
    text = run(["git", "-C", str(repo), "show", f"main:{path}"]).stdout
    from datetime import datetime, timezone
    whole, _, fraction = re.search(r"^started: (\S+)", text, re.M).group(1).rstrip("Z").partition(".")
    return datetime.fromisoformat(whole).replace(tzinfo=timezone.utc).timestamp() + float("0." + (fraction or "0"))

class RealRecords:
    """Records, status files and commit messages exactly as Slipway writes them, captured from
    real `slipway apply` runs (a plain rolling update, a version that fails its health check, a
    canary under load), then varied into as many deployments as a benchmark needs."""
    ENV, OLD, NEW = "envzq", "9.8.7", "9.8.8"

    def __init__(self, work: Path):
        repo, port = work / "capture", free_port()
        run(["git", "init", "-q", "-b", "main", str(repo)])
        (repo / "Environments").mkdir()
        def release(version, strategy="rolling: { batchSize: 1 }", extra=(), health="", subject=None):
            args = ", ".join(f'"{a}"' for a in ["slipway-demo-service", "--port", "{port}", "--version", "{version}", *extra])
            (repo / f"Environments/{self.ENV}.yaml").write_text(
                f'service: web\nversion: "{version}"\nrun:\n  command: [{args}]\n  replicas: 3\n  stopTimeout: 2s\n'
                f'traffic: {{ listen: "127.0.0.1:{port}" }}\nhealth:\n  interval: 100ms\n  healthyThreshold: 1\n{health}'
                f'strategy:\n  {strategy}\nrollback: {{ minRequests: 5 }}\n')
            run(["git", "add", "-A"], cwd=repo)
            run(["git", "commit", "-q", "-m", subject or f"Release web {version}"], cwd=repo)
            subprocess.run([SLIPWAY, "apply", "--repo", str(repo)], capture_output=True)
            files = run(["git", "show", "--name-only", "--format=", "HEAD"], cwd=repo).stdout.split()
            record = next(p for p in files if p.startswith("Deployments/"))
            return {"record": run(["git", "show", f"HEAD:{record}"], cwd=repo).stdout,
                    "status": run(["git", "show", f"HEAD:Status/{self.ENV}.md"], cwd=repo).stdout,
                    "message": run(["git", "log", "-1", "--format=%B"], cwd=repo).stdout.rstrip("\n") + "\n",
                    "result": record.rsplit("_", 1)[1][:-3]}
        try:
            release(self.OLD)
            self.templates = [(0.88, release(self.NEW))]
            release(self.OLD, subject="Roll back to 9.8.7")
            self.templates.append((0.07, release(self.NEW, extra=["--fail-health"], health="  startTimeout: 2s\n")))
            stop = threading.Event()
            def load():
                while not stop.is_set():
                    try: urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read()
                    except OSError: pass
            loader = threading.Thread(target=load); loader.start()
            try:
                self.templates.append((0.05, release(self.NEW, strategy="canary: { steps: [50, 100], stepDuration: 1s, analysisInterval: 1s }")))
            finally:
                stop.set(); loader.join()
        finally:
            subprocess.run([SLIPWAY, "down", "--repo", str(repo)], capture_output=True)
        self.plain = self.templates[0][1]
        self.random = random.Random(7)

    def deployment(self, env, previous, version, when, trigger, manifest):
        """(path, record, status, message, result) of one deployment of `env` from `previous` to `version`."""
        template = self.random.choices([t for _, t in self.templates], weights=[w for w, _ in self.templates])[0]
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(when)) + ".%03dZ" % self.random.randrange(1000)
        deployment = f"{stamp}-{trigger[:7]}"
        hashes, instances = {}, {}
        path = f"Deployments/{env}/{stamp[:4]}-{stamp[4:6]}/{stamp[6:8]}/{deployment}_{previous}_{version}_{template['result']}.md"
        def swap(text):
            text = re.sub(r"Deployments/\S+\.md", path, text)
            text = re.sub(r"\d{8}T\d{6}(?:\.\d{3})?Z-[0-9a-f]{7}", deployment, text)
            text = re.sub(r"\b[0-9a-f]{40}\b", lambda m: hashes.setdefault(m.group(0), trigger if not hashes else manifest), text)
            text = re.sub(r"`[0-9a-f]{7}`", f"`{trigger[:7]}`", text)
            text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", lambda m: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + (m.group(1) and ".%03d" % self.random.randrange(1000) or "") + "Z", text)
            # One new id per instance of the template, the same wherever it appears.
            text = re.sub(r"web-[0-9a-f]{8}", lambda m: instances.setdefault(m.group(0), "web-%08x" % self.random.getrandbits(32)), text)
            # Timings differ from one deployment to the next (front matter values, durations in the body).
            vary = lambda value: max(0, round(value * self.random.uniform(0.6, 1.4)))
            text = re.sub(r"(?<=: )\d+(?=[,}\]])", lambda m: str(vary(int(m.group(0)))), text)
            text = re.sub(r"\b\d+(?= ms\b)", lambda m: str(vary(int(m.group(0)))), text)
            text = re.sub(r"\b\d+\.\d\d(?= s\b)", lambda m: "%.2f" % (vary(float(m.group(0)) * 100) / 100), text)
            return text.replace(self.ENV, env).replace(self.NEW, version).replace(self.OLD, previous)
        return path, swap(template["record"]), swap(template["status"]), swap(template["message"]), template["result"]

PEOPLE = ["Dana Developer <dana@example.com>", "Ravi Release <ravi@example.com>", "Oona Ops <oona.ops@example.com>",
          "Margaret Hamilton <margaret.hamilton@example.com>"]

class OpsHistory:
    """The commits of an ops repo as deployments happen over `environments`: for each, a
    person's release commit then Slipway's record commit; every tenth deployment also a
    person's unrelated commit. `commits(n)` continues where the last call stopped."""
    def __init__(self, records: RealRecords, environments=10, start=1_760_000_000, seed=1):
        self.records, self.rng, self.when, self.index = records, random.Random(seed), start, 0
        self.versions = {f"env-{e}": 0 for e in range(environments)}

    def commits(self, count):
        """Yields (author, time, message, {path: bytes}) for the next `count` deployments; the
        first call starts with what `slipway init` commits (templates, a README)."""
        if self.index == 0:
            templates = Path(__file__).parent.parent / "Templates"
            seed = {f"Templates/{t.name}": t.read_bytes() for t in templates.glob("*.mustache")}
            seed["README.md"] = b"Runbook\n"
            yield PEOPLE[0], self.when, "Start an ops repo with slipway init", seed
        for _ in range(count):
            index, rng = self.index, self.rng
            self.index += 1
            envs = len(self.versions)
            env = f"env-{index % envs}" if rng.random() < 0.5 else f"env-{rng.randrange(envs)}"
            self.when += rng.randint(60, 600)
            self.versions[env] += 1
            previous, version = f"2.{self.versions[env] - 1}.0", f"2.{self.versions[env]}.0"
            person = rng.choice(PEOPLE)
            manifest = (f'service: web\nversion: "{version}"\nrun:\n  command: ["./bin/web", "--port", "{{port}}"]\n  replicas: 3\n'
                        f'traffic: {{ listen: "127.0.0.1:{8000 + int(env[4:])}" }}\n').encode()
            trigger = hashlib.sha1(b"release %d" % index).hexdigest()
            yield person, self.when, f"Release web {version} to {env}", {f"Environments/{env}.yaml": manifest}
            path, record, status, message, result = self.records.deployment(env, previous, version, self.when + 5, trigger, blob_id(manifest))
            if result != "succeeded":
                self.versions[env] -= 1  # what runs stays the previous version
            yield "Slipway <slipway@localhost>", self.when + 9, message, {path: record.encode(), f"Status/{env}.md": status.encode()}
            if index % 10 == 9:
                yield person, self.when + 30, f"Notes on {env}", {"README.md": f"Runbook, revision {index}\n".encode()}

def fast_import_commits(repo: Path, commits, ref="refs/heads/main", first=True):
    """Writes (author, time, message, files) commits on `ref` with git fast-import."""
    if first:
        run(["git", "init", "-q", "-b", "main", str(repo)])
    process = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=repo, stdin=subprocess.PIPE, env=GIT_ENV)
    out = process.stdin
    for index, (author, when, message, files) in enumerate(commits):
        msg = message.encode()
        out.write(b"commit %s\n" % ref.encode())
        out.write(b"author %s %d +0000\ncommitter %s %d +0000\n" % (author.encode(), when, author.encode(), when))
        out.write(b"data %d\n%s\n" % (len(msg), msg))
        if index == 0 and not first:
            out.write(b"from %s^0\n" % ref.encode())
        for path, data in files.items():
            out.write(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data))
    out.close()
    if process.wait() != 0:
        raise SystemExit("git fast-import failed")

def pack_size(repo: Path) -> int:
    return sum(f.stat().st_size for f in (repo / ".git/objects/pack").glob("*.pack"))

def bench_history(work: Path):
    """History over 100,000 deployments in a repository shaped like real use, beside git; a
    record commit at that size; what a record weighs, in the tree and packed."""
    repo, count = work / "history-100k", 100_000
    records = RealRecords(work)
    plain = records.plain["record"]
    history = OpsHistory(records)
    fast_import_commits(repo, history.commits(count))
    # As git gc leaves a repository that grew by loose objects: deltas computed afresh (the
    # default window and depth), then gc's own pass (commit-graph, packed refs).
    run(["git", "repack", "-a", "-d", "-f", "-q"], cwd=repo)
    run(["git", "gc", "-q"], cwd=repo)
    run(["git", "checkout", "-q", "main"], cwd=repo)
    commits = int(run(["git", "rev-list", "--count", "HEAD"], cwd=repo).stdout)
    listed = subprocess.run([SLIPWAY, "history", "--repo", str(repo)], capture_output=True, text=True).stdout.count("\n")
    grepped = run(["git", "log", "--grep", "Slipway-Result", "--format=%H"], cwd=repo).stdout.count("\n")
    one = run(["git", "ls-tree", "-r", "--name-only", "HEAD", "Deployments/env-3"], cwd=repo).stdout.count("\n")
    assert listed == grepped == count, f"slipway history listed {listed}, git log --grep {grepped}, expected {count}"
    assert subprocess.run([SLIPWAY, "history", "env-3", "--repo", str(repo)], capture_output=True, text=True).stdout.count("\n") == one
    git = f"git -C {repo}"
    t = hyperfine({
        "grep": f"{git} log --grep Slipway-Result --format=%H",
        "all": f"{SLIPWAY} history --repo {repo}",
        "all-json": f"{SLIPWAY} history --json --repo {repo}",
        "ls-tree": f"{git} ls-tree -r --name-only HEAD Deployments/env-3",
        "env": f"{SLIPWAY} history env-3 --repo {repo}",
        "grep20": f"{git} log -n 20 --grep Slipway-Result --format=%H",
        "limit": f"{SLIPWAY} history --limit 20 --repo {repo}",
        "env-limit": f"{SLIPWAY} history env-3 --limit 20 --repo {repo}",
        "deep": f"{SLIPWAY} history --all --repo {repo}",
        "version": f"{SLIPWAY} --version",
    }, runs=10, warmup=2)
    def timed(key): return f"{ms(t[key]['median'])} (σ {ms(t[key]['stddev'])})"
    indexed = len(run(["git", "ls-files"], cwd=repo).stdout.splitlines())
    size = pack_size(repo)
    commit_ms = record_commit_times(work, repo)
    growth = packed_growth(repo, history)
    rows = [
        ("repository", f"{count:,} deployments over 10 environments, {commits:,} commits (a person's release before each record, "
                       f"a person's other commit every tenth), records and status files from real applies; "
                       f"{size / 1e6:.0f} MB packed ({size / count:,.0f} B per deployment)", "—"),
        ("`git log --grep Slipway-Result --format=%H`", timed("grep"), "—"),
        ("`slipway history` (all 100,000)", timed("all") + f"; --json {timed('all-json')}", "no slower than git log --grep"),
        (f"`git ls-tree -r --name-only HEAD Deployments/env-3` ({one:,} records)", timed("ls-tree"), "—"),
        (f"`slipway history env-3` ({one:,} records)", timed("env"), "< 50 ms"),
        ("`git log -n 20 --grep Slipway-Result --format=%H`", timed("grep20"), "—"),
        ("`slipway history --limit 20`", timed("limit") + f"; env-3: {timed('env-limit')}", "≤ 2× git log -n 20 --grep"),
        ("`slipway --version` (process start alone)", timed("version"), "—"),
        ("`slipway history --all` (also reads every commit's trailers)", timed("deep"), "—"),
        ("one record commit at 100,000 records, Slipway's own time (from `apply`'s log)",
         f"bare repository {commit_ms['bare']:.1f} ms; checked out, index of {indexed:,} entries updated: {commit_ms['worktree']:.1f} ms (median of 5 each)", "< 20 ms"),
        ("record of a plain rolling update (3 instances), as written by `apply`", f"{len(plain.splitlines())} lines, {len(plain.encode()):,} bytes", "≤ 40 lines, ≤ 1.5 KB"),
        ("packed growth per deployment at 100,000 records (1,000 more, loose then `git gc`)",
         f"{growth['slipway']:,.0f} B for Slipway's record commit; {growth['all']:,.0f} B with the person's release commit", "≤ 1 KB"),
    ]
    return "history", "History and records at 100,000 deployments, beside git", rows, "goals per row"

def record_commit_times(work: Path, repo: Path):
    """Median time of `commitRecord` (logged by `apply`) over five real deployments of one
    small environment added to the 100,000-record repository, checked out and bare."""
    times = {}
    bare = work / "history-100k.git"
    run(["git", "clone", "-q", "--bare", str(repo), str(bare)])
    start = run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()
    for name, target in [("worktree", repo), ("bare", bare)]:
        port, samples = free_port(), []
        clone = work / f"push-{name}"
        if name == "bare":
            run(["git", "clone", "-q", str(bare), str(clone)])
        try:
            for version in range(6):
                tree = repo if name == "worktree" else clone
                if name == "bare":  # Slipway's record commits landed there: pull them, as a person would
                    run(["git", "pull", "-q", "--rebase", "origin", "main"], cwd=tree)
                (tree / "Environments/bench.yaml").write_text(small_manifest("bench", f"3.{version}.0", port).decode())
                run(["git", "add", "Environments/bench.yaml"], cwd=tree)
                run(["git", "commit", "-q", "-m", f"Release bench 3.{version}.0"], cwd=tree)
                if name == "bare":
                    run(["git", "push", "-q", "origin", "HEAD:main"], cwd=tree)
                out = subprocess.run([SLIPWAY, "apply", "bench", "--log-level", "info", "--repo", str(target)], capture_output=True, text=True)
                found = re.search(r"ms=(\d+\.\d+) \S+ record committed", out.stderr)
                assert found, out.stderr[-2000:]
                if version > 0:  # the first deployment also starts HAProxy
                    samples.append(float(found.group(1)))
        finally:
            subprocess.run([SLIPWAY, "down", "--repo", str(target)], capture_output=True)
        if name == "worktree":  # leave the benchmark repository as it was
            run(["git", "reset", "-q", "--hard", start], cwd=repo)
        times[name] = sorted(samples)[len(samples) // 2]
    return times

def packed_growth(repo: Path, history: OpsHistory, more=1_000):
    """Bytes the packed repository grows by per deployment: `more` deployments written as
    loose objects (as Slipway and git write them one by one), then `git gc`; the people's
    commits first, then Slipway's, each measured on its own."""
    new = list(history.commits(more))
    def add(commits):
        run(["git", "gc", "-q"], cwd=repo)
        before = pack_size(repo)
        import_loose(repo, commits)
        run(["git", "gc", "-q"], cwd=repo)
        return pack_size(repo) - before
    people = add([c for c in new if not c[0].startswith("Slipway")])
    slipway = add([c for c in new if c[0].startswith("Slipway")])
    return {"slipway": slipway / more, "all": (people + slipway) / more}

def import_loose(repo: Path, commits):
    """fast-import into a side pack, then unpacked into loose objects, so that gc computes
    their deltas as it does for objects Slipway and git write one by one."""
    packs = set((repo / ".git/objects/pack").glob("*.pack"))
    fast_import_commits(repo, commits, first=False)
    for pack in set((repo / ".git/objects/pack").glob("*.pack")) - packs:
        moved = pack.with_suffix(".import")
        pack.rename(moved)
        pack.with_suffix(".idx").unlink()
        with open(moved, "rb") as data:
            subprocess.run(["git", "unpack-objects", "-q"], cwd=repo, stdin=data, check=True)
        moved.unlink()

GIVEN_PORTS = set()

def free_port():
    """A port free now and not given before in this run (the kernel may hand one out twice,
    and two environments on one address make both invalid)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in GIVEN_PORTS:
            GIVEN_PORTS.add(port)
            return port

def bench_apply(work: Path):
    """Slipway's own time per deployment of 4 instances (waiting on health checks, drains and
    process exits excluded), read from the timing each record carries."""
    repo, port, rounds = work / "apply-4", free_port(), 8
    run(["git", "init", "-q", "-b", "main", str(repo)])
    own, waiting, total = [], [], []
    try:
        for round_ in range(rounds):
            text = (f'service: web\nversion: "1.0.{round_}"\nrun:\n  command: ["slipway-demo-service", "--port", "{{port}}", "--version", "{{version}}"]\n'
                    f'  replicas: 4\n  stopTimeout: 2s\ntraffic: {{ listen: "127.0.0.1:{port}" }}\n'
                    f'health:\n  interval: 100ms\n  healthyThreshold: 1\nstrategy:\n  rolling: {{ batchSize: 2 }}\n')
            (repo / "Environments").mkdir(exist_ok=True)
            (repo / "Environments/production.yaml").write_text(text)
            run(["git", "add", "-A"], cwd=repo)
            run(["git", "commit", "-q", "-m", f"Release 1.0.{round_}"], cwd=repo)
            subprocess.run([SLIPWAY, "apply", "--repo", str(repo)], check=True, capture_output=True)
            record = run(["git", "show", "--name-only", "--format=", "HEAD"], cwd=repo).stdout.split()
            path = next(p for p in record if p.startswith("Deployments/"))
            text = run(["git", "show", f"HEAD:{path}"], cwd=repo).stdout
            found = re.search(r"^timing: \{ms: (\d+), waiting: (\d+)\}$", text, re.M)
            whole, waited = int(found.group(1)), int(found.group(2))
            own.append((whole - waited) / 1000); waiting.append(waited / 1000); total.append(whole / 1000)
    finally:
        subprocess.run([SLIPWAY, "down", "--repo", str(repo)], capture_output=True)
    def row(name, values):
        ordered = sorted(values)
        return (name, ordered[len(ordered) // 2], sum(values) / len(values), ordered[-1] - ordered[0])
    rows = [row("Slipway's own time (first deployment: HAProxy start, 4 instances)", own[:1]),
            row("Slipway's own time (updates, 4 instances in batches of 2)", own[1:]),
            row("waiting on health checks, drains and exits (updates)", waiting[1:]),
            row("whole deployment (updates)", total[1:])]
    return "apply", f"`slipway apply` of 4 instances, {rounds} deployments (from each record's `timing`)", rows, "goal: own time < 1 s"

class TrafficRepo:
    """An ops repo on 127.0.0.1 whose manifests run the release build of slipway-demo-service."""
    def __init__(self, work: Path):
        self.repo, self.port = work / "traffic", free_port()
        run(["git", "init", "-q", "-b", "main", str(self.repo)])
        (self.repo / "Environments").mkdir()
        self.version = 0

    def manifest(self, version, strategy, arguments=(), rollback="rollback: { minRequests: 50 }", replicas=3):
        args = ", ".join(f'"{a}"' for a in ["slipway-demo-service", "--port", "{port}", "--version", "{version}", *arguments])
        return (f'service: web\nversion: "{version}"\nrun:\n  command: [{args}]\n  replicas: {replicas}\n  stopTimeout: 5s\n'
                f'traffic: {{ listen: "127.0.0.1:{self.port}" }}\nhealth:\n  interval: 200ms\n  healthyThreshold: 2\n'
                f'strategy:\n  {strategy}\n{rollback}\n')

    def commit(self, text, message):
        (self.repo / "Environments/production.yaml").write_text(text)
        run(["git", "add", "-A"], cwd=self.repo)
        run(["git", "commit", "-q", "-m", message], cwd=self.repo)

    def apply(self):
        return subprocess.run([SLIPWAY, "apply", "--repo", str(self.repo)], capture_output=True, text=True)

    def release(self, strategy, arguments=(), rollback="rollback: { minRequests: 50 }"):
        self.version += 1
        self.commit(self.manifest(f"1.{self.version}.0", strategy, arguments, rollback), f"Release 1.{self.version}.0")

    def record(self):
        files = run(["git", "show", "--name-only", "--format=", "HEAD"], cwd=self.repo).stdout.split()
        path = next(p for p in files if p.startswith("Deployments/"))
        return run(["git", "show", f"HEAD:{path}"], cwd=self.repo).stdout

    def down(self):
        subprocess.run([SLIPWAY, "down", "--repo", str(self.repo)], capture_output=True)

def wrk(url, seconds, connections=32):
    """Runs wrk for `seconds`; returns (requests, failed, rps, p99 ms). Failed = non-2xx/3xx + socket errors."""
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url], capture_output=True, text=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    socket = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99ms = float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)] if p99 else 0.0
    return requests, non2xx + socket, rps, p99ms

def under_load(target: TrafficRepo, seconds, action):
    """Starts wrk against the front, runs `action` a second in, returns (wrk numbers, action's result)."""
    import threading
    result = {}
    thread = threading.Thread(target=lambda: result.update(wrk=wrk(f"http://127.0.0.1:{target.port}/", seconds)))
    thread.start()
    time.sleep(1)
    outcome = action()
    thread.join()
    return result["wrk"], outcome

def bench_traffic(work: Path):
    """Failed requests during deployments under steady load; rollback speed; blast radius;
    the cost of HAProxy in the path."""
    target = TrafficRepo(work)
    rows, notes = [], []
    try:
        target.release("rolling: { batchSize: 1 }")
        assert target.apply().returncode == 0
        _, _, rps, _ = wrk(f"http://127.0.0.1:{target.port}/", 3)
        seconds = max(15, int(110_000 / rps) + 2)
        notes.append(f"steady load: wrk, 2 threads, 32 connections, {rps:,.0f} requests/s through HAProxy, {seconds} s per scenario")
        scenarios = [
            ("rolling update (3 instances, batches of 1)", "rolling: { batchSize: 1 }", (), 0),
            ("blue-green switch (3 instances)", "blueGreen: { keepPrevious: 10m }", (), 0),
            ("canary promotion 10 → 25 → 50 → 100%", "canary: { steps: [10, 25, 50, 100], stepDuration: 2s, analysisInterval: 1s }", (), 0),
            ("rollback of a canary 150 ms slower (latency trigger)", "canary: { steps: [10, 25, 50, 100], stepDuration: 2s, analysisInterval: 1s }", ("--latency-ms", "150"), 1),
        ]
        for name, strategy, arguments, expected in scenarios:
            target.release(strategy, arguments)
            (requests, failed, _, _), outcome = under_load(target, seconds, target.apply)
            assert outcome.returncode == expected, f"{name}: apply exited {outcome.returncode}: {outcome.stdout}{outcome.stderr}"
            rows.append((f"{name}: failed requests", f"{failed} of {requests:,}", "0 of ≥ 100,000"))

        # Bad canary: 20% 5xx, analysis every second. From the records: analysis → all traffic on the baseline,
        # and the step's first request (weights set) → that moment.
        switches, firsts = [], []
        for _ in range(5):
            target.release("canary: { steps: [10, 25, 50, 100], stepDuration: 5s, analysisInterval: 1s }", ("--error-rate", "0.2"),
                           "rollback: { minRequests: 20 }")
            _, outcome = under_load(target, 5, target.apply)
            text = target.record()
            switch = float(re.search(r"switchMilliseconds: \"?([\d.]+)", text).group(1))
            held = int(re.search(r"\{step: step 1/4, weight: \d+, ms: (\d+)", text).group(1))
            switches.append(switch); firsts.append(held + switch)
        rows.append(("bad canary (20% 5xx): analysis fired → all traffic on the baseline",
                     f"median {sorted(switches)[2]:.2f} ms (max {max(switches):.2f} ms, 5 runs)", "< 100 ms"))
        rows.append(("bad canary, 1 s interval: its first bad request → all traffic on the baseline",
                     f"median {sorted(firsts)[2]:,.0f} ms (5 runs)", "one analysis interval + < 100 ms"))

        # Blast radius: every request of the new version fails; canary first step 1%, 1 s interval.
        target.release("canary: { steps: [1, 10, 100], stepDuration: 5s, analysisInterval: 1s }", ("--error-rate", "1.0"),
                       "rollback: { minRequests: 20 }")
        (requests, failed, rps, _), outcome = under_load(target, 8, target.apply)
        rows.append(("blast radius: version failing every request, first step 1%, 1 s interval",
                     f"{failed} failed of {requests:,} = {failed / rps:.3f} s of full traffic", "< 0.1 s (Flagger defaults: ≈ 6 s)"))
        # A version that fails its health check never gets a request.
        target.release("canary: { steps: [1, 10, 100], stepDuration: 5s, analysisInterval: 1s }", ("--fail-health",),
                       "rollback: { minRequests: 20 }")
        text = (target.repo / "Environments/production.yaml").read_text().replace("healthyThreshold: 2", "healthyThreshold: 2\n  startTimeout: 3s")
        target.commit(text, "Health-failing release")
        (requests, failed, _, _), outcome = under_load(target, 6, target.apply)
        rows.append(("version failing its health check: requests it received (failed requests)", f"{failed} of {requests:,}", "0"))

        # HAProxy in the path vs one instance directly.
        target.release("rolling: { batchSize: 3 }")
        assert target.apply().returncode == 0
        instance = json.loads((target.repo / ".git/slipway/envs/production/instances.json").read_text())[0]["port"]
        _, _, front_rps, front_p99 = wrk(f"http://127.0.0.1:{target.port}/", 10)
        _, _, direct_rps, direct_p99 = wrk(f"http://127.0.0.1:{instance}/", 10)
        rows.append(("through HAProxy (3 instances) vs one instance directly: throughput",
                     f"{front_rps:,.0f} vs {direct_rps:,.0f} requests/s", "shown, not a goal"))
        rows.append(("through HAProxy vs directly: p99 latency", f"{front_p99:.2f} ms vs {direct_p99:.2f} ms", "shown, not a goal"))
    finally:
        target.down()
    return "traffic", "Traffic under deployments (wrk against 127.0.0.1; " + "; ".join(notes) + ")", rows, "goals per row"

def small_manifest(env, version, port):
    return (f'service: {env}\nversion: "{version}"\nrun:\n  command: ["slipway-demo-service", "--port", "{{port}}", "--version", "{{version}}"]\n'
            f'  replicas: 1\n  stopTimeout: 2s\ntraffic: {{ listen: "127.0.0.1:{port}" }}\nhealth:\n  interval: 100ms\n  healthyThreshold: 1\n').encode()

def start_daemon(repo: Path, *flags):
    log = open(repo.parent / f"daemon-{repo.name}.log", "w")
    return subprocess.Popen([SLIPWAY, "watch", "--repo", str(repo), *flags], stdout=log, stderr=log)

def shared_repository(path: Path, hooks: bool):
    """A bare repository people push to (with Slipway's server hooks when `hooks`) and a clone
    of it with an empty Environments/, as (bare, clone)."""
    bare, clone = path.with_name(path.name + ".git"), path
    run(["git", "init", "-q", "--bare", "-b", "main", str(bare)])
    if hooks:
        run([SLIPWAY, "hooks", "install", "--server", "--repo", str(bare)])
    run(["git", "clone", "-q", str(bare), str(clone)])
    (clone / "Environments").mkdir()
    return bare, clone

def bench_daemon(work: Path):
    """Commit → pipeline started (from `git push` starting to the record's `started`), with the
    post-receive hook, by inotify alone and by polling alone, and in remote mode (the daemon's
    own clone, woken by the origin's hook); and the daemon's memory at rest."""
    rows = []
    for mode, flags, hooks in [("post-receive hook (slipway-notify)", ["--poll", "1h", "--no-inotify"], True),
                               ("inotify on the ref, no hook", ["--poll", "1h"], False),
                               ("polling alone, every 1 s", ["--poll", "1s", "--no-inotify"], False),
                               ("remote mode: the daemon's own clone, woken by the origin's post-receive hook (--notify)", ["--poll", "1h"], True)]:
        bare, clone = shared_repository(work / f"latency-{len(rows)}", hooks)
        watched = bare
        if mode.startswith("remote"):
            watched = work / f"latency-{len(rows)}-daemon.git"
            run([SLIPWAY, "hooks", "install", "--server", "--repo", str(bare), "--notify", str(watched)])
            flags = ["--remote", str(bare)] + flags
        port = free_port()
        daemon = None
        samples = []
        try:
            for round_ in range(51):
                if round_ > 0:  # the daemon's record commits landed in the bare repository: catch up first
                    run(["git", "pull", "-q", "--rebase", "origin", "main"], cwd=clone)
                (clone / "Environments/web.yaml").write_bytes(small_manifest("web", f"1.0.{round_}", port))
                run(["git", "add", "-A"], cwd=clone)
                run(["git", "commit", "-q", "-m", f"Release 1.0.{round_}"], cwd=clone)
                pushed = time.time()
                run(["git", "push", "-q", "origin", "HEAD:main"], cwd=clone)
                if daemon is None:  # the first push creates the branch; the daemon starts on it
                    daemon = start_daemon(watched, *flags)
                deadline = time.time() + 30
                while time.time() < deadline:
                    out = subprocess.run(["git", "--git-dir", str(bare), "log", "-1", "--format=%s%n%(trailers:key=Slipway-Deployment,valueonly)"],
                                         capture_output=True, text=True).stdout
                    if f"→ 1.0.{round_} succeeded" in out:
                        break
                    time.sleep(0.02)
                else:
                    raise SystemExit(f"{mode}: no record for 1.0.{round_}")
                if round_ == 0:
                    continue  # the daemon started after this push
                record = run(["git", "--git-dir", str(bare), "show", "--name-only", "--format=", "main"]).stdout.split()
                path = next(p for p in record if p.startswith("Deployments/"))
                text = run(["git", "--git-dir", str(bare), "show", f"main:{path}"]).stdout
                started = re.search(r"^started: (\S+)", text, re.M).group(1)
                from datetime import datetime, timezone
                whole, _, fraction = started.rstrip("Z").partition(".")
                started_at = datetime.fromisoformat(whole).replace(tzinfo=timezone.utc).timestamp() + float("0." + (fraction or "0"))
                samples.append(started_at - pushed)
        finally:
            if daemon:
                daemon.terminate(); daemon.wait(30)
            subprocess.run([SLIPWAY, "down", "--repo", str(watched)], capture_output=True)
        ordered = sorted(samples)
        rows.append((f"commit → pipeline started: {mode}", f"p50 {ordered[len(ordered) // 2] * 1000:.0f} ms, p90 {ordered[int(len(ordered) * 0.9)] * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms ({len(samples)} pushes)",
                     "p50 < 50 ms with the hook; < 1 s by polling; < 100 ms in remote mode"))

    # Memory at rest: 100 environments deployed, the daemon idle.
    repo = work / "hundred"
    run(["git", "init", "-q", "-b", "main", str(repo)])
    (repo / "Environments").mkdir()
    for i in range(100):
        (repo / f"Environments/env-{i:03d}.yaml").write_bytes(small_manifest(f"env-{i:03d}", "1.0.0", free_port()))
    run(["git", "add", "-A"], cwd=repo); run(["git", "commit", "-q", "-m", "100 environments"], cwd=repo)
    daemon = start_daemon(repo, "--poll", "1s")
    try:
        deadline = time.time() + 600
        while time.time() < deadline:
            count = run(["git", "log", "--format=%H", "--grep", "Slipway-Result: succeeded"], cwd=repo).stdout.count("\n")
            if count >= 100:
                break
            time.sleep(1)
        time.sleep(10)  # at rest: ten polls with nothing to do
        status = {l.split(":")[0]: int(l.split()[1]) for l in open(f"/proc/{daemon.pid}/status") if l.startswith(("VmRSS", "RssAnon", "RssFile"))}
        pss = next(int(l.split()[1]) for l in open(f"/proc/{daemon.pid}/smaps_rollup") if l.startswith("Pss:"))
        rows.append(("daemon memory at rest, 100 environments deployed",
                     f"VmRSS {status['VmRSS'] / 1024:.1f} MB = {status['RssAnon'] / 1024:.1f} MB heap and stacks + "
                     f"{status['RssFile'] / 1024:.1f} MB file pages (code of slipway, libgit2, libc); PSS {pss / 1024:.1f} MB",
                     "< 30 MB RSS"))
    finally:
        daemon.terminate(); daemon.wait(60)
        subprocess.run([SLIPWAY, "down", "--repo", str(repo)], capture_output=True)
    return "daemon", "The daemon (bare repository people push to, 127.0.0.1)", rows, "goals per row"

def answer(port):
    """One GET / on a fresh connection: (status, body), (None, "") when nothing answers."""
    import http.client
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", "/")
        response = connection.getresponse()
        text = response.read().decode()
        connection.close()
        return response.status, text
    except Exception:
        return None, ""

def wait_until(predicate, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return time.time()
        time.sleep(0.005)
    raise SystemExit(f"timed out after {seconds} s: {what}")

def web_under_daemon(work: Path, name: str):
    """A repository whose `web` (3 replicas of the demo service) a daemon watching it deploys:
    (repo, port, daemon, the environment's state folder)."""
    repo = work / name
    run(["git", "init", "-q", "-b", "main", str(repo)]); (repo / "Environments").mkdir()
    port = free_port()
    (repo / "Environments/web.yaml").write_bytes(small_manifest("web", "1.0.0", port).replace(b"replicas: 1", b"replicas: 3"))
    run(["git", "add", "-A"], cwd=repo); run(["git", "commit", "-q", "-m", "Release 1.0.0"], cwd=repo)
    return repo, port, start_daemon(repo, "--poll", "1s"), repo / ".git/slipway/envs/web"

def alive(state: Path):
    """The registered instances of an environment's state folder whose process runs."""
    return [i for i in json.loads((state / "instances.json").read_text()) if os.path.exists(f"/proc/{i['process']['pid']}")]

def instance_processes(state_root: Path):
    """The SLIPWAY_INSTANCE id of every process started from this state directory (None when it has none)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        if f"SLIPWAY_STATE={state_root}".encode() in environ:
            ids = [v.split(b"=", 1)[1].decode() for v in environ if v.startswith(b"SLIPWAY_INSTANCE=")]
            found.append(ids[0] if ids else None)
    return found

def bench_recover(work: Path):
    """Emergency rollback and healing under steady load, through the daemon: a revert pushed to a
    bare repository (post-receive hook) until all traffic is on the previous version, with a warm
    set and from a cold start; a killed instance and a killed HAProxy until everything serves again."""
    import threading
    rows = []
    for case, strategy in [("warm set (released blue-green, keepPrevious 10m)", "blueGreen: { keepPrevious: 10m }"),
                           ("cold start (released rolling; every instance started at once)", "rolling: { batchSize: 1 }")]:
        bare, clone = shared_repository(work / f"revert-{len(rows)}", hooks=True)
        port, daemon, releases = free_port(), None, {}
        try:
            for version in ["1.0.0", "2.0.0"]:
                if daemon:
                    run(["git", "pull", "-q", "--rebase", "origin", "main"], cwd=clone)
                text = small_manifest("web", version, port).replace(b"replicas: 1", b"replicas: 3") + f"strategy:\n  {strategy}\n".encode()
                (clone / "Environments/web.yaml").write_bytes(text)
                run(["git", "add", "-A"], cwd=clone); run(["git", "commit", "-q", "-m", f"Release {version}"], cwd=clone)
                releases[version] = run(["git", "rev-parse", "HEAD"], cwd=clone).stdout.strip()
                run(["git", "push", "-q", "origin", "HEAD:main"], cwd=clone)
                daemon = daemon or start_daemon(bare, "--poll", "1h", "--no-inotify")
                wait_until(lambda: f"→ {version} succeeded" in run(["git", "--git-dir", str(bare), "log", "-1", "--format=%s"]).stdout, 60, version)
            run(["git", "pull", "-q", "--rebase", "origin", "main"], cwd=clone)
            load = {}
            thread = threading.Thread(target=lambda: load.update(wrk=wrk(f"http://127.0.0.1:{port}/", 8)))
            thread.start(); time.sleep(1)
            run(["git", "revert", "--no-edit", releases["2.0.0"]], cwd=clone)
            pushed = time.time()
            run(["git", "push", "-q", "origin", "HEAD:main"], cwd=clone)
            streak = [0]
            def back():
                streak[0] = streak[0] + 1 if "1.0.0" in answer(port)[1] else 0
                return streak[0] >= 20  # twenty answers in a row from the previous version
            switched = wait_until(back, 60, "traffic back on 1.0.0")
            thread.join()
            requests, failed, _, _ = load["wrk"]
            rows.append((f"revert pushed → all traffic on the previous version: {case}",
                         f"{(switched - pushed) * 1000:,.0f} ms; {failed} failed of {requests:,} requests", "< 1 s with a warm set; 0 failed"))
        finally:
            if daemon:
                daemon.terminate(); daemon.wait(30)
            subprocess.run([SLIPWAY, "down", "--repo", str(bare)], capture_output=True)

    repo, port, daemon, state = web_under_daemon(work, "heal")
    def healed_records():
        return run(["git", "log", "--format=%s", "--grep", "Slipway-Result: healed"], cwd=repo).stdout.count("\n")
    try:
        wait_until(lambda: "succeeded" in run(["git", "log", "-1", "--format=%s"], cwd=repo).stdout, 60, "first deployment")
        for what in ["instance", "haproxy"]:
            before = healed_records()
            load = {}
            thread = threading.Thread(target=lambda: load.update(wrk=wrk(f"http://127.0.0.1:{port}/", 8)))
            thread.start(); time.sleep(1)
            pid = alive(state)[0]["process"]["pid"] if what == "instance" else int((state / "haproxy/haproxy.pid").read_text())
            os.kill(pid, 9)
            killed = time.time()
            served = wait_until(lambda: answer(port)[0] == 200, 30, "the front serves")
            whole = wait_until(lambda: healed_records() > before and len(alive(state)) == 3, 60, "every replica back")
            thread.join()
            requests, failed, _, _ = load["wrk"]
            rows.append((f"killed {'an instance (1 of 3)' if what == 'instance' else 'HAProxy'}: front serving again / healed record, every replica back",
                         f"{(served - killed) * 1000:,.0f} ms / {(whole - killed) * 1000:,.0f} ms; {requests:,} requests answered, {failed:,} failed or refused (wrk counts every refused connection)",
                         "shown (exits are watched; other drift is looked for every 2 s)"))
    finally:
        daemon.terminate(); daemon.wait(30)
        subprocess.run([SLIPWAY, "down", "--repo", str(repo)], capture_output=True)
    return "recover", "Emergency rollback and healing under steady load (wrk, 32 connections, against 127.0.0.1)", rows, "goals per row"

def bench_crash(work: Path):
    """200 back-to-back deployments by the daemon, about half of them with the daemon killed
    (SIGKILL) at a random moment and started again at once, under a steady request loop.
    Counts the records against the releases and looks for duplicates, orphans and failed requests."""
    import random, threading, urllib.request
    random.seed(7)
    repo = work / "crash"
    run(["git", "init", "-q", "-b", "main", str(repo)])
    (repo / "Environments").mkdir()
    port = free_port()
    def release(n):
        (repo / "Environments/web.yaml").write_bytes(small_manifest("web", f"1.0.{n}", port).replace(b"replicas: 1", b"replicas: 2"))
        run(["git", "add", "Environments"], cwd=repo)
        run(["git", "commit", "-q", "-m", f"Release 1.0.{n}"], cwd=repo)
    def results():
        out = run(["git", "log", "--format=%(trailers:key=Slipway-Deployment,valueonly,separator=)|%(trailers:key=Slipway-Version,valueonly,separator=)|%(trailers:key=Slipway-Result,valueonly,separator=)",
                   "--grep", "Slipway-Result:"], cwd=repo).stdout
        return [tuple(line.split("|")) for line in out.splitlines() if line.count("|") == 2]
    release(0)
    daemon = start_daemon(repo, "--poll", "1s")
    counts = {"ok": 0, "failed": 0}
    stop = threading.Event()
    def load():
        while not stop.is_set():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    counts["ok" if response.status == 200 else "failed"] += 1
            except Exception:
                counts["failed"] += 1
            time.sleep(0.005)
    loader = None
    kills, started = 0, time.time()
    try:
        for n in range(201):
            if n > 0:
                release(n)
                if random.random() < 0.5:
                    time.sleep(random.uniform(0, 1.2))
                    daemon.kill(); daemon.wait()
                    kills += 1
                    daemon = start_daemon(repo, "--poll", "1s")
            deadline = time.time() + 60
            while not any(version == f"1.0.{n}" and result == "succeeded" for _, version, result in results()):
                if time.time() > deadline:
                    raise SystemExit(f"crash: no succeeded record for 1.0.{n}")
                time.sleep(0.05)
            if n == 0:
                loader = threading.Thread(target=load); loader.start()
        elapsed = time.time() - started
    finally:
        stop.set()
        if loader: loader.join()
        daemon.terminate(); daemon.wait(60)
    records = results()
    ids = [deployment for deployment, _, _ in records]
    by_result = {}
    for _, _, result in records:
        by_result[result] = by_result.get(result, 0) + 1
    succeeded = {version for _, version, result in records if result == "succeeded"}
    strays = len(instance_processes(repo / ".git/slipway"))
    subprocess.run([SLIPWAY, "down", "--repo", str(repo)], capture_output=True)
    rows = [
        ("releases (version bumps, rolling, 2 instances)", "201 in %.0f s" % elapsed, "—"),
        ("daemon killed with SIGKILL at a random moment, restarted at once", f"{kills} times", "—"),
        ("releases with a succeeded record", f"{len(succeeded)} of 201", "all: nothing lost"),
        ("records by result", ", ".join(f"{k} {v}" for k, v in sorted(by_result.items())), "one per run: interrupted ≤ kills"),
        ("deployment ids recorded twice", str(len(ids) - len(set(ids))), "0"),
        ("instance processes running at the end", f"{strays} (2 expected)", "no orphan"),
        ("requests to the front during it all", f"{counts['failed']} failed of {counts['ok'] + counts['failed']:,}", "0 failed"),
    ]
    return "crash", "Crash safety: 200 deployments with random SIGKILLs", rows, "goals per row"

def bench_chaos(work: Path):
    """A long run (SLIPWAY_CHAOS_SECONDS, default 600) under a steady request loop in which an
    instance that has run for over a minute (a heal of a younger one counts towards a crash loop)
    or HAProxy is killed with SIGKILL every 8-16 s at random. Per kill: requests that failed,
    time until the front serves again and until every replica is back; then the records written
    and any process left over."""
    import random, threading, statistics
    random.seed(11)
    seconds = float(os.environ.get("SLIPWAY_CHAOS_SECONDS", "600"))
    repo, port, daemon, state = web_under_daemon(work, "chaos")
    def results():
        return run(["git", "log", "--format=%(trailers:key=Slipway-Result,valueonly,separator=)", "--grep", "Slipway-Result:"], cwd=repo).stdout.split()
    failures, answered, stop = [], [0], threading.Event()
    def load():
        while not stop.is_set():
            status, _ = answer(port)
            if status == 200:
                answered[0] += 1
            else:
                failures.append(time.time())
    kills, seen = [], {}
    loaders = []
    try:
        wait_until(lambda: "succeeded" in run(["git", "log", "-1", "--format=%s"], cwd=repo).stdout, 60, "first deployment")
        loaders = [threading.Thread(target=load) for _ in range(4)]
        for thread in loaders: thread.start()
        started = time.time()
        while time.time() - started < seconds:
            time.sleep(random.uniform(8, 16))
            now = time.time()
            for instance in alive(state): seen.setdefault(instance["id"], now)
            settled = [i for i in alive(state) if now - seen[i["id"]] > 65]
            what = "instance" if settled and random.random() < 0.7 else "haproxy"
            before = results().count("healed")
            pid = random.choice(settled)["process"]["pid"] if what == "instance" else int((state / "haproxy/haproxy.pid").read_text())
            os.kill(pid, 9)
            killed = time.time()
            served = wait_until(lambda: answer(port)[0] == 200, 30, "the front serves")
            whole = wait_until(lambda: results().count("healed") > before and len(alive(state)) == 3, 60, "every replica back")
            kills.append((what, killed, served - killed, whole - killed))
        elapsed = time.time() - started
    finally:
        stop.set()
        for thread in loaders: thread.join()
        daemon.terminate(); daemon.wait(60)
    registered = {i["id"] for i in json.loads((state / "instances.json").read_text())}
    stray = sum(1 for id in instance_processes(repo / ".git/slipway") if id and id not in registered)
    records = results()
    subprocess.run([SLIPWAY, "down", "--repo", str(repo)], capture_output=True)
    def per_kill(kind):
        chosen = [k for k in kills if k[0] == kind]
        counts = []
        for index, (_, at, _, _) in enumerate(kills):
            if kills[index][0] != kind: continue
            until = kills[index + 1][1] if index + 1 < len(kills) else float("inf")
            counts.append(sum(1 for t in failures if at <= t < until))
        serve = sorted(k[2] * 1000 for k in chosen); back = sorted(k[3] * 1000 for k in chosen)
        if not chosen: return "none", "none"
        return (f"{len(chosen)} kills: failed requests per kill mean {statistics.mean(counts):.1f}, max {max(counts)}",
                f"front serving again median {statistics.median(serve):,.0f} ms (max {max(serve):,.0f}); every replica back median {statistics.median(back):,.0f} ms (max {max(back):,.0f})")
    rows = [("run", f"{elapsed:.0f} s, {len(kills)} SIGKILLs ({sum(k[0] == 'instance' for k in kills)} instances, {sum(k[0] == 'haproxy' for k in kills)} HAProxy), 4 request loops on 127.0.0.1", "—")]
    for kind, label, goal in [("instance", "instance killed (1 of 3, running > 1 min)", "0 failed"),
                              ("haproxy", "HAProxy killed (a refused connection fails at once: each loop tries again and again while the front is down)",
                               "the front back as fast as possible")]:
        failed, times = per_kill(kind)
        rows.append((f"{label}: failed requests", failed, goal))
        rows.append((f"{label}: recovery", times, "shown"))
    by_result = {r: records.count(r) for r in sorted(set(records))}
    rows += [
        ("requests", f"{len(failures):,} failed of {answered[0] + len(failures):,}", "—"),
        ("records written", ", ".join(f"{k} {v}" for k, v in by_result.items()) + f" (1 deployment + {len(kills)} kills)", "one healed record per kill, no crash loop"),
        ("instance processes left outside the registry", str(stray), "0 (no orphan)"),
    ]
    return "chaos", f"Healing under random kills for {seconds / 60:.0f} minutes", rows, "goals per row"

def webhook_receiver(work: Path, key: str):
    """Tests/Fixtures/webhook-receiver.py on 127.0.0.1 (it checks the HMAC with Python's own):
    (process, port, the JSON-lines file of what it received)."""
    received = work / "received.jsonl"
    process = subprocess.Popen(["python3", "Tests/Fixtures/webhook-receiver.py", key, str(received), "0", "0"],
                               stdout=subprocess.PIPE, text=True)
    port = int(process.stdout.readline())
    return process, port, received

def percentile(ordered, share):
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]

def bench_observe(work: Path):
    """Event → webhook receiver latency over 50 releases under the daemon; `/metrics` and
    `/api/environments` with 100 environments deployed; the daemon's memory at rest with the
    status page and metrics on."""
    from datetime import datetime, timezone
    rows = []
    key = "bench-key-7c1"
    receiver, hook_port, received = webhook_receiver(work, key)
    repo = work / "notify"
    run(["git", "init", "-q", "-b", "main", str(repo)]); (repo / "Environments").mkdir()
    port = free_port()
    notify = b'notify:\n  - { name: bench, webhook: env:BENCH_HOOK_URL, secret: env:BENCH_HOOK_KEY }\n'
    environment = dict(os.environ, BENCH_HOOK_URL=f"http://127.0.0.1:{hook_port}/hook", BENCH_HOOK_KEY=key)
    log = open(work / "daemon-notify.log", "w")
    daemon = None
    try:
        for round_ in range(51):
            (repo / "Environments/web.yaml").write_bytes(small_manifest("web", f"1.0.{round_}", port) + notify)
            run(["git", "add", "-A"], cwd=repo); run(["git", "commit", "-q", "-m", f"Release 1.0.{round_}"], cwd=repo)
            if daemon is None:
                daemon = subprocess.Popen([SLIPWAY, "watch", "--repo", str(repo), "--poll", "1s", "--http", "off"],
                                          stdout=log, stderr=log, env=environment)
            wait_until(lambda: f"1.0.{round_}" in received.read_text() if received.exists() else False, 60, f"events of 1.0.{round_}")
            wait_until(lambda: received.read_text().count('"kind": "succeeded"') > round_, 60, f"succeeded of 1.0.{round_}")
    finally:
        if daemon:
            daemon.terminate(); daemon.wait(30)
        subprocess.run([SLIPWAY, "down", "--repo", str(repo)], capture_output=True)
        receiver.terminate(); receiver.wait(10)
    latencies, verified = [], True
    for line in received.read_text().splitlines():
        entry = json.loads(line)
        verified = verified and entry["verified"]
        sent = entry["event"]["time"]
        whole, _, fraction = sent.rstrip("Z").partition(".")
        at = datetime.fromisoformat(whole).replace(tzinfo=timezone.utc).timestamp() + float("0." + (fraction or "0"))
        latencies.append(entry["at"] - at)
    ordered = sorted(latencies)
    rows.append(("event → webhook receiver (queued in the daemon → the receiver has the signed body)",
                 f"p50 {percentile(ordered, 0.5) * 1000:.1f} ms, p99 {percentile(ordered, 0.99) * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms "
                 f"({len(ordered)} events of 51 releases; every signature verified: {'yes' if verified else 'NO'})", "p99 < 100 ms"))

    # 100 environments under a daemon with the status page and metrics on.
    repo = work / "hundred"
    run(["git", "init", "-q", "-b", "main", str(repo)]); (repo / "Environments").mkdir()
    for i in range(100):
        (repo / f"Environments/env-{i:03d}.yaml").write_bytes(small_manifest(f"env-{i:03d}", "1.0.0", free_port()))
    run(["git", "add", "-A"], cwd=repo); run(["git", "commit", "-q", "-m", "100 environments"], cwd=repo)
    daemon = subprocess.Popen([SLIPWAY, "watch", "--repo", str(repo), "--poll", "1s", "--http", "127.0.0.1:0"],
                              stdout=open(work / "daemon-hundred.log", "w"), stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: run(["git", "log", "--format=%H", "--grep", "Slipway-Result: succeeded"], cwd=repo).stdout.count("\n") >= 100, 900,
                   "100 environments deployed")
        address = (repo / ".git/slipway/http.address").read_text().strip()
        import http.client
        def get(path):
            connection = http.client.HTTPConnection(*address.split(":"), timeout=10)
            started = time.perf_counter()
            connection.request("GET", path)
            body = connection.getresponse().read()
            elapsed = time.perf_counter() - started
            connection.close()
            return elapsed, body
        for path, count, what in [("/metrics", 200, "GET /metrics, 100 environments"), ("/api/environments", 100, "GET /api/environments, 100 environments")]:
            samples = [get(path) for _ in range(count)]
            ordered = sorted(elapsed for elapsed, _ in samples)
            size, lines = len(samples[-1][1]), samples[-1][1].count(b"\n")
            rows.append((what, f"p50 {percentile(ordered, 0.5) * 1000:.1f} ms, p99 {percentile(ordered, 0.99) * 1000:.1f} ms ({count} requests); "
                               f"{size / 1024:.1f} KiB, {lines} lines", "p99 < 100 ms"))
        time.sleep(10)  # at rest: ten polls with nothing to do, after the scrapes
        status = {l.split(":")[0]: int(l.split()[1]) for l in open(f"/proc/{daemon.pid}/status") if l.startswith(("VmRSS", "RssAnon", "RssFile"))}
        rows.append(("daemon memory at rest, 100 environments, status page and metrics on, after 300 requests",
                     f"VmRSS {status['VmRSS'] / 1024:.1f} MB = {status['RssAnon'] / 1024:.1f} MB heap and stacks + {status['RssFile'] / 1024:.1f} MB file pages",
                     "< 30 MB RSS"))
    finally:
        daemon.terminate(); daemon.wait(60)
        subprocess.run([SLIPWAY, "down", "--repo", str(repo)], capture_output=True)
    return "observe", "Notifications, metrics and the status page (127.0.0.1)", rows, "goals per row"

def bench_resources(work: Path):
    """The resource checks' cost: the CPU of the whole `slipway apply` process while it holds a
    canary step of 64 instances (32 per version) and reads every one of them each second, its
    resource rules on; and `slipway status` reading the same 64 instances."""
    target = TrafficRepo(work)
    ticks = os.sysconf("SC_CLK_TCK")
    def cpu_seconds(pid):
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks
    stop = threading.Event()
    def trickle():  # a request every 20 ms: enough for each window to decide, not a load test
        while not stop.is_set():
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{target.port}/", timeout=2).read()
            except OSError:
                pass
            stop.wait(0.02)
    thread = threading.Thread(target=trickle)
    rows = []
    try:
        target.commit(target.manifest("1.0.0", "rolling: { batchSize: 32 }", replicas=32), "Release 1.0.0")
        first = target.apply()
        if first.returncode != 0:
            raise SystemExit(f"1.0.0 did not deploy: {first.stdout}{first.stderr}")
        thread.start()
        hold = 50
        target.commit(target.manifest("2.0.0", f"canary: {{ steps: [50, 100], stepDuration: {hold}s, analysisInterval: 1s }}", replicas=32,
                                      rollback="rollback: { minRequests: 5, cpuIncrease: 1000%, memoryIncrease: 1000%, memoryLimit: 1GiB, warmup: 0s }"),
                      "Release 2.0.0")
        apply = subprocess.Popen([SLIPWAY, "apply", "--repo", str(target.repo)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        registry = target.repo / ".git/slipway/envs/production/instances.json"
        wait_until(lambda: registry.exists() and len(json.loads(registry.read_text() or "[]")) == 64, 120, "64 instances registered")
        time.sleep(3)  # the step's weights set and its first window under way
        measured, before = 30, cpu_seconds(apply.pid)
        started = time.monotonic()
        time.sleep(measured)
        used, elapsed = cpu_seconds(apply.pid) - before, time.monotonic() - started
        # The readings alone: `slipway status` reads every instance twice; the same command on the
        # same repository once everything is down reads none and does everything else.
        status = f"{SLIPWAY} status --repo {target.repo}"
        with_64 = hyperfine({"64": status}, runs=15, warmup=2)["64"]
        output, _ = apply.communicate(timeout=300)
        if apply.returncode != 0:
            raise SystemExit(f"2.0.0 did not deploy: {output}")
        record = target.record()
        windows = int(re.search(r"windows: (\d+)", record).group(1))
        rows.append(("CPU of the whole `slipway apply` process holding a canary step of 64 instances, each read every second "
                     "(HAProxy's counters, 64 resource readings from /proc, the judge, the journal)",
                     f"{used / elapsed * 100:.2f}% of one core ({used * 1000:.0f} ms of CPU in {elapsed:.1f} s; the step had {windows} windows)",
                     "< 1% of one core"))
        target.down()
        with_none = hyperfine({"none": status}, runs=15, warmup=2)["none"]
        cpu = {name: result["user"] + result["system"] for name, result in [("64", with_64), ("none", with_none)]}
        reading = (cpu["64"] - cpu["none"]) / 2
        rows.append(("`slipway status` with 64 instances (each read twice, 250 ms apart) against the same `status` once they are down: "
                     "a cold process, so an upper bound of what a reading costs the long-running daemon",
                     f"{with_64['mean'] * 1000:.0f} ms; {cpu['64'] * 1000:.0f} ms of CPU against {cpu['none'] * 1000:.0f} ms "
                     f"= {reading * 1000:.1f} ms per reading of 64 instances", "—"))
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()
        target.down()
    return "resources", "Resource checks (64 instances of the demo service, 127.0.0.1)", rows, "goals per row"

def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    memory = next((int(l.split()[1]) // 1024 // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    git = run(["git", "--version"]).stdout.strip()
    haproxy = subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    return f"{os.cpu_count()} cores ({cpu}), {memory} GiB, {platform.system()} {platform.release()}; {swift}; {git}; {haproxy}; release build"

def write_section(name, title, rows, goal):
    """Writes Benchmarks/results/<name>.md at once (a later failure loses nothing) and
    reassembles results.md from every section file."""
    sections_dir = RESULTS.parent / "results"
    sections_dir.mkdir(exist_ok=True)
    lines = [f"## {title}", "", f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on: {machine()}.", ""]
    if rows and len(rows[0]) == 3:
        lines += ["| what | result | goal |", "|---|---|---|"]
        lines += [f"| {what} | {result} | {target} |" for what, result, target in rows]
    else:
        lines += [f"{goal}", "", "| what | median | mean | spread (σ, or max − min for apply) |", "|---|---|---|---|"]
        lines += [f"| {what} | {ms(median)} | {ms(mean)} | {ms(spread)} |" for what, median, mean, spread in rows]
    text = "\n".join(lines) + "\n"
    (sections_dir / f"{name}.md").write_text(text)
    print(text, flush=True)
    order = ["plan", "history", "apply", "traffic", "daemon", "observe", "resources", "recover", "chaos", "crash"]
    parts = [(sections_dir / f"{n}.md").read_text() for n in order if (sections_dir / f"{n}.md").exists()]
    RESULTS.write_text("# Benchmark results\n\nWritten by `Benchmarks/run` (all) or `Benchmarks/run NAME` (one section).\n\n" + "\n".join(parts))

def main():
    benches = {"plan": bench_plan, "history": bench_history, "apply": bench_apply, "traffic": bench_traffic, "daemon": bench_daemon,
               "observe": bench_observe, "resources": bench_resources, "recover": bench_recover, "chaos": bench_chaos, "crash": bench_crash}
    for name in ONLY:
        work = Path(tempfile.mkdtemp(prefix="slipway-bench-"))
        try:
            print(f"running {name}…", flush=True)
            write_section(*benches[name](work))
        finally:
            shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__":
    main()
