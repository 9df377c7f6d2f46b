"""Slipway's benchmarks (see README, "Performance"). Generates repositories with
`git fast-import`, times commands with hyperfine, and writes Benchmarks/results.md.

Every process it starts is stopped before it returns; traffic goes to 127.0.0.1 only."""
import hashlib, json, os, platform, re, shutil, socket, subprocess, sys, tempfile, time
from pathlib import Path

BIN = Path(sys.argv[1])
SLIPWAY = str(BIN / "slipway")
ONLY = sys.argv[2:] or ["plan", "history", "apply"]
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

def hyperfine(commands: dict, runs=20, warmup=3):
    with tempfile.NamedTemporaryFile(suffix=".json") as export:
        argv = ["hyperfine", "--style", "none", "--warmup", str(warmup), "--runs", str(runs), "--export-json", export.name]
        for name, command in commands.items():
            argv += ["--command-name", name, command]
        subprocess.run(argv, check=True, capture_output=True)
        data = json.load(open(export.name))
    return {r["command"]: r for r in data["results"]}

def ms(seconds): return f"{seconds * 1000:.1f} ms"

def manifest(env, version, port):
    return (f'service: svc-{env}\nversion: "{version}"\nrun:\n  command: ["slipway-demo-service", "--port", "{{port}}"]\n'
            f'  replicas: 2\ntraffic: {{ listen: "127.0.0.1:{port}" }}\nstrategy:\n  rolling: {{ batchSize: 1 }}\n').encode()

def status(env, version, blob, commit):
    return (f"---\nenvironment: {env}\nservice: svc-{env}\nversion: {version}\ncommit: {commit}\nmanifest: {blob}\n"
            f"since: 2026-11-26T00:00:00Z\ninstances: []\nlastResult: succeeded\nlastDeployment: 20261126T000000Z-{commit[:7]}\n---\n").encode()

def bench_plan(work: Path):
    """slipway plan over 1,000 environments: 500 up to date, 500 with a new version."""
    repo, count = work / "plan-1000", 1000
    v1 = {f"Environments/env-{i:04d}.yaml": manifest(f"env-{i:04d}", "1.0.0", 20000 + i) for i in range(count)}
    statuses = {f"Status/env-{i:04d}.md": status(f"env-{i:04d}", "1.0.0", blob_id(v1[f"Environments/env-{i:04d}.yaml"]), "0" * 40)
                for i in range(count)}
    v2 = {f"Environments/env-{i:04d}.yaml": manifest(f"env-{i:04d}", "2.0.0", 20000 + i) for i in range(0, count, 2)}
    fast_import(repo, [("Manifests", v1), ("Deployed", statuses), ("Release 2.0.0 to half", v2)])
    plan = subprocess.run([SLIPWAY, "plan", "--repo", str(repo)], capture_output=True, text=True)
    updates = plan.stdout.count(": update ")
    assert updates == count // 2, f"expected {count // 2} updates, plan said {updates}:\n{plan.stdout[:500]}{plan.stderr[:500]}"
    results = hyperfine({"slipway plan (1,000 environments)": f"{SLIPWAY} plan --repo {repo}",
                         "slipway plan --json": f"{SLIPWAY} plan --json --repo {repo}"})
    rows = [(name, r["median"], r["mean"], r["stddev"]) for name, r in results.items()]
    return "plan", "`slipway plan` over 1,000 environments (500 to update, 500 up to date)", rows, "goal: < 200 ms"

def bench_history(work: Path):
    """slipway history over 100,000 record commits, next to git log --grep."""
    repo, count = work / "history-100k", 100_000
    def commits():
        yield ("Manifests", {"Environments/production.yaml": manifest("production", "1.0.0", 8080)})
        for i in range(count):
            env = f"env-{i % 10}"
            commit = hashlib.sha1(str(i).encode()).hexdigest()
            deployment = f"2026{(i // 100000) % 12 + 1:02d}01T{i % 24:02d}0000Z-{commit[:7]}"
            message = (f"deploy({env}): web 1.{i} → 1.{i + 1} succeeded\n\nRecord: Deployments/{env}/{deployment}.md\n\n"
                       f"Slipway-Environment: {env}\nSlipway-Service: web\nSlipway-Version: 1.{i + 1}\n"
                       f"Slipway-Previous-Version: 1.{i}\nSlipway-Result: succeeded\nSlipway-Deployment: {deployment}\n"
                       f"Slipway-Trigger: {commit}\n")
            yield (message, {f"Status/{env}.md": status(env, f"1.{i + 1}", "0" * 40, commit)})
            if i % 10 == 9:
                yield (f"Bump something {i}", {"Environments/production.yaml": manifest("production", f"1.{i}", 8080)})
    fast_import(repo, commits())
    listed = subprocess.run([SLIPWAY, "history", "--repo", str(repo)], capture_output=True, text=True).stdout.count("\n")
    grepped = run(["git", "log", "--grep", "Slipway-Result", "--format=%H"], cwd=repo).stdout.count("\n")
    assert listed == grepped == count, f"slipway history listed {listed}, git log --grep {grepped}, expected {count}"
    git = f"git -C {repo} log --grep Slipway-Result"
    results = hyperfine({
        "git log --grep Slipway-Result": git,
        "git log --grep Slipway-Result --format=%H": f"{git} --format=%H",
        "git log --grep … --format with trailers": f"{git} '--format=%H %(trailers:key=Slipway-Environment,key=Slipway-Version,key=Slipway-Result,valueonly,separator=%x20)'",
        "slipway history": f"{SLIPWAY} history --repo {repo}",
        "slipway history --json": f"{SLIPWAY} history --json --repo {repo}",
        "git log -n 20 --grep Slipway-Result": f"{git} -n 20 --format=%H",
        "slipway history --limit 20": f"{SLIPWAY} history --limit 20 --repo {repo}",
        "slipway history env-3 --limit 20": f"{SLIPWAY} history env-3 --limit 20 --repo {repo}",
    }, runs=10, warmup=2)
    rows = [(name, r["median"], r["mean"], r["stddev"]) for name, r in results.items()]
    return "history", "`slipway history` over 100,000 record commits (110,001 commits in all), beside `git log --grep`", rows, "goal: no slower than git log --grep"

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

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
            timing = {k: int(v) for k, v in re.findall(r"^  (\w+Milliseconds): (\d+)$", text, re.M)}
            own.append(timing["ownMilliseconds"] / 1000); waiting.append(timing["waitingMilliseconds"] / 1000)
            total.append(timing["totalMilliseconds"] / 1000)
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

def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    memory = next((int(l.split()[1]) // 1024 // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    git = run(["git", "--version"]).stdout.strip()
    haproxy = subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    return f"{os.cpu_count()} cores ({cpu}), {memory} GiB, {platform.system()} {platform.release()}; {swift}; {git}; {haproxy}; release build"

def main():
    benches = {"plan": bench_plan, "history": bench_history, "apply": bench_apply}
    work = Path(tempfile.mkdtemp(prefix="slipway-bench-"))
    sections = []
    try:
        for name in ONLY:
            print(f"running {name}…", flush=True)
            sections.append(benches[name](work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = ["# Benchmark results", "", f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `Benchmarks/run` on: {machine()}.", ""]
    for _, title, rows, goal in sections:
        lines += [f"## {title}", "", f"{goal}", "", "| what | median | mean | spread (σ, or max − min for apply) |", "|---|---|---|---|"]
        lines += [f"| {name} | {ms(median)} | {ms(mean)} | {ms(spread)} |" for name, median, mean, spread in rows]
        lines.append("")
    text = "\n".join(lines)
    if set(ONLY) == set(benches):
        RESULTS.write_text(text)
    print(text)

main()
