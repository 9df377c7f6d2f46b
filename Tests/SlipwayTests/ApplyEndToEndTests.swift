import Foundation
import Testing
@testable import SlipwayEngine
@testable import SlipwayGit
@testable import SlipwayHost

/// Real git repositories (made with the git CLI), the real `slipway` binary, real instances
/// of slipway-demo-service and a real HAProxy. Serialized: each test starts several processes.
@Suite("slipway apply end to end", .serialized)
struct ApplyEndToEndTests {
    static let trailerKeys = ["Slipway-Environment", "Slipway-Service", "Slipway-Version", "Slipway-Previous-Version",
                              "Slipway-Result", "Slipway-Deployment", "Slipway-Trigger"]

    struct HistoryRow: Decodable {
        let environment: String, version: String, previousVersion: String?, result: String, deployment: String, trigger: String
    }

    func history(_ ops: OpsRepoFixture) throws -> [HistoryRow] {
        let result = try ops.slipway(["history", "--json"])
        #expect(result.status == 0, "\(result.output)")
        return try JSONDecoder().decode([HistoryRow].self, from: Data(result.stdout.utf8))
    }

    @Test("apply starts N instances behind HAProxy and commits a record with every trailer; git status stays clean")
    func firstDeployment() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            let trigger = try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 3, listen: port), message: "Release 1.0.0")

            let result = try ops.slipway(["apply"])
            #expect(result.status == 0, "\(result.output)")

            let instances = ops.instances("production")
            #expect(instances.count == 3)
            #expect(instances.allSatisfy { $0.isRunning && $0.version == "1.0.0" })
            for _ in 0..<6 { #expect(fetch(port)?.body == "web 1.0.0\n") }

            let found = try ops.git(["log", "--grep", "Slipway-Result: succeeded", "--format=%H"]).split(separator: "\n")
            #expect(found.count == 1)
            let trailers = try ops.git(["log", "-1", "--format=%(trailers:only,unfold)"])
            for key in Self.trailerKeys { #expect(trailers.contains("\(key): "), "missing \(key) in \(trailers)") }
            #expect(trailers.contains("Slipway-Trigger: \(trigger)"))
            #expect(trailers.contains("Slipway-Previous-Version: none"))
            let parsed = try ops.git(["log", "-1", "--format=%B"])
            #expect(try Command.run(URL(fileURLWithPath: "/usr/bin/git"), ["interpret-trailers", "--parse"], directory: ops.root)
                .status == 0 || parsed.isEmpty == false)

            let rows = try history(ops)
            #expect(rows.count == 1)
            #expect(rows.first?.result == "succeeded" && rows.first?.version == "1.0.0" && trigger.hasPrefix(rows.first?.trigger ?? "?"))
            let files = try ops.git(["show", "--name-only", "--format=", "HEAD"]).split(separator: "\n").map(String.init)
            #expect(files.contains("Status/production.md"))
            #expect(files.contains { $0.hasPrefix("Deployments/production/") && $0.contains("\(rows.first?.deployment ?? "?")_none_1.0.0_succeeded.md") })

            #expect(try ops.git(["status", "--porcelain"]).isEmpty)

            // libgit2 reads back what the git CLI sees.
            let repository = try await OpsRepository.open(path: ops.repo.path)
            let status = try await repository.status(of: .init("production")!, at: try await repository.tip())
            #expect(status?.version == "1.0.0" && status?.instances.count == 3 && status?.lastResult == .succeeded)

            let again = try ops.slipway(["apply"])
            #expect(again.status == 0 && again.stdout.contains("production: up to date"), "\(again.output)")
        }
    }

    @Test("a version bump rolls every instance over with no failed request, and the record names the previous version")
    func rollingUpdate() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 3, listen: port))
            #expect(try ops.slipway(["apply"]).status == 0)
            let old = ops.instances("production")

            try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", replicas: 3, listen: port, batchSize: 2))
            let plan = try ops.slipway(["plan"])
            #expect(plan.stdout.contains("production: update web 1.0.0 → 2.0.0"), "\(plan.output)")
            #expect(plan.stdout.contains("strategy.rolling.batchSize  1 → 2"), "\(plan.output)")

            let load = LoadClient(port: port)
            let result = try ops.slipway(["apply"])
            let traffic = load.stop()
            #expect(result.status == 0, "\(result.output)")
            #expect(traffic.failed == 0, "failed requests during the rollout: \(traffic.errors.prefix(5))")
            #expect(traffic.succeeded > 0)
            #expect(traffic.versions.contains("web 2.0.0\n"))

            #expect(old.allSatisfy { !$0.isRunning }, "an old instance is still running")
            let current = ops.instances("production")
            #expect(current.count == 3 && current.allSatisfy { $0.version == "2.0.0" && $0.isRunning })
            #expect(fetch(port)?.body == "web 2.0.0\n")
            let rows = try history(ops)
            #expect(rows.map(\.version) == ["2.0.0", "1.0.0"])
            #expect(rows.first?.previousVersion == "1.0.0")
            #expect(try ops.git(["status", "--porcelain"]).isEmpty)
        }
    }

    @Test("a version that never gets healthy fails, keeps the previous version serving, and is not retried")
    func neverHealthy() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
            #expect(try ops.slipway(["apply"]).status == 0)
            let old = ops.instances("production")

            try ops.commit("Environments/production.yaml",
                           testManifest(version: "2.0.0", listen: port, extraArguments: ["--fail-health"], startTimeout: "2s"))
            let result = try ops.slipway(["apply"])
            #expect(result.status == 1, "\(result.output)")
            #expect(result.stderr.contains("did not pass the health check GET /healthz → 200 within 2s"), "\(result.stderr)")

            #expect(fetch(port)?.body == "web 1.0.0\n")
            #expect(old.allSatisfy { $0.isRunning })
            #expect(ops.instances("production").allSatisfy { $0.version == "1.0.0" })

            let rows = try history(ops)
            #expect(rows.first?.result == "failed" && rows.first?.version == "2.0.0" && rows.first?.previousVersion == "1.0.0")
            let record = try ops.git(["show", "HEAD:\(try ops.lastRecordPath())"])
            #expect(record.contains("result: failed"))
            #expect(record.contains("did not pass the health check"))
            #expect(record.contains("Last log lines of web-"))
            #expect(record.contains("starting web 2.0.0"))
            let status = try ops.git(["show", "HEAD:Status/production.md"])
            #expect(status.contains("version: 1.0.0") && status.contains("failedVersion: 2.0.0"))

            let retry = try ops.slipway(["apply"])
            #expect(retry.status == 0 && retry.stdout.contains("production: waiting"), "\(retry.output)")
            #expect(retry.stdout.contains("(to try it again as it is: slipway apply --retry-failed production)"))
            #expect(try history(ops).count == 2)
        }
    }

    @Test("an instance that crashes at start fails the deployment at once with its last log lines")
    func crashAtStart() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml",
                           testManifest(version: "1.0.0", listen: port, extraArguments: ["--crash-at-start"], startTimeout: "30s"))
            let started = ContinuousClock.now
            let result = try ops.slipway(["apply"])
            #expect(result.status == 1)
            #expect(ContinuousClock.now - started < .seconds(20), "waited for the start timeout instead of noticing the exit")
            #expect(result.stderr.contains("exited during start-up"), "\(result.stderr)")
            #expect(result.stderr.contains("crashing at start as asked"), "\(result.stderr)")
            #expect(ops.instances("production").isEmpty)
            let status = try ops.git(["show", "HEAD:Status/production.md"])
            #expect(status.contains("failedVersion: 1.0.0"))
        }
    }

    @Test("a commit pushed between Slipway's read and its ref update is kept; the record lands on top")
    func concurrentCommit() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
            let repository = try await OpsRepository.open(path: ops.repo.path)
            let before = try await repository.tip()
            let record = DeploymentRecordFixture.make(trigger: before)
            let workTree = ops.workTree
            let engine = Engine(repository: repository, configuration: EngineConfiguration(
                state: StateDirectory(root: ops.stateDirectory), environment: [:], resolver: .standard(), logger: .init(label: "test")))
            // A commit that arrives the way a push does: Slipway holds the index, so git commit here would wait.
            let commit = try await engine.commitRecord(record.record, status: record.status, beforeRefUpdate: {
                guard let other = try? Command.git(["commit-tree", "HEAD^{tree}", "-p", "HEAD", "-m", "Someone else's change"], in: workTree) else { return }
                _ = try? Command.git(["update-ref", "refs/heads/main", other.trimmingCharacters(in: .whitespacesAndNewlines)], in: workTree)
            })
            let log = try ops.git(["log", "--format=%H %s"]).split(separator: "\n")
            #expect(log.count == 3)
            #expect(log[0].hasPrefix(commit.hex) && log[0].contains("deploy(production)"))
            #expect(log[1].contains("Someone else's change"))
            #expect(log[2].contains("Change Environments/production.yaml"))
            #expect(try ops.git(["status", "--porcelain"]).isEmpty)
            #expect(try ops.git(["reflog", "show", "main"]).contains("slipway:"))
        }
    }

    @Test("the same code path works on a bare repository")
    func bareRepository() async throws {
        try await OpsRepoFixture.with(bare: true) { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
            let result = try ops.slipway(["apply"])
            #expect(result.status == 0, "\(result.output)")
            #expect(fetch(port)?.body == "web 1.0.0\n")
            #expect(try ops.git(["log", "--grep", "Slipway-Result: succeeded", "--format=%s"]).contains("deploy(production): web none → 1.0.0 succeeded"))
            try Command.git(["pull", "--quiet", "--ff-only", "origin", "main"], in: ops.workTree)
            #expect(FileManager.default.fileExists(atPath: ops.workTree.appendingPathComponent("Status/production.md").path))
            #expect(try history(ops).count == 1)
            let status = try ops.slipway(["status"])
            #expect(status.stdout.contains("production: web 1.0.0 since"), "\(status.output)")
        }
    }

    @Test("an invalid manifest is refused with path:line:col, exit 1, and nothing is deployed")
    func invalidManifest() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            let text = testManifest(version: "1.0.0", listen: port).replacingOccurrences(of: "replicas: 2", with: "replica: 2")
            try ops.commit("Environments/production.yaml", text)
            let result = try ops.slipway(["apply"])
            #expect(result.status == 1)
            #expect(result.stderr.contains(#"Environments/production.yaml:6:3: unknown key "replica" in run (did you mean "replicas"?)"#), "\(result.stderr)")
            #expect(ops.instances("production").isEmpty)
            #expect(try ops.git(["log", "--format=%s"]).split(separator: "\n").count == 1)
        }
    }

    @Test("a manifest renamed keeps its address: one apply stops the old environment first (removed), then deploys the new name there")
    func rename() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 1, listen: port))
            #expect(try ops.slipway(["apply"]).status == 0)
            try Command.git(["mv", "Environments/production.yaml", "Environments/prod.yaml"], in: ops.workTree)
            try Command.git(["commit", "-q", "-m", "production is called prod now"], in: ops.workTree)
            let applied = try ops.slipway(["apply"])
            #expect(applied.status == 0, "\(applied.output)")
            let lines = applied.stdout.split(separator: "\n").filter { $0.hasPrefix("prod") }
            #expect(lines.count == 2 && lines[0].hasPrefix("production: removed") && lines[1].hasPrefix("prod: succeeded"), "\(applied.output)")
            #expect(fetch(port)?.body == "web 1.0.0\n" && ops.instances("production").isEmpty && ops.instances("prod").count == 1)
        }
    }

    @Test("plan's cache on disk holds what the repository says, never what runs here: a killed instance, a secret unset, a new commit all show at once")
    func planCacheStaysTrue() async throws {
        try await OpsRepoFixture.with { ops in
            let (qa, production) = (try Ports.free(), try Ports.free())
            let secret = "  secrets: { TOKEN: env:SLIPWAY_TEST_CACHE_TOKEN }"
            let token = ["SLIPWAY_TEST_CACHE_TOKEN": "t0ken"]
            try ops.commit("Environments/qa.yaml", testManifest(version: "1.0.0", replicas: 1, listen: qa))
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 1, listen: production, secrets: secret))
            #expect(try ops.slipway(["apply"], environment: token).status == 0)
            let cache = ops.stateDirectory.appendingPathComponent("cache/plan")
            for _ in 0..<2 {
                let plan = try ops.slipway(["plan"], environment: token)
                #expect(plan.stdout.contains("qa: up to date") && plan.stdout.contains("production: up to date"), "\(plan.output)")
            }
            #expect(FileManager.default.fileExists(atPath: cache.path))

            // What runs here is looked at by every plan.
            for instance in ops.instances("qa") { kill(instance.process.pid, SIGKILL) }
            #expect(await eventually { ops.instances("qa").allSatisfy { !$0.isRunning } })
            let killed = try ops.slipway(["plan"], environment: token)
            #expect(killed.stdout.contains("qa: repair web 1.0.0 → 1.0.0") && killed.stdout.contains("0 of 1 instances of 1.0.0 are running"), "\(killed.output)")

            // A new commit is planned from what it changed; this machine's secrets at every plan.
            try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", replicas: 1, listen: production, secrets: secret))
            let update = try ops.slipway(["plan"], environment: token)
            #expect(update.stdout.contains("production: update web 1.0.0 → 2.0.0") && update.stdout.contains("version  1.0.0 → 2.0.0"), "\(update.output)")
            let held = try ops.slipway(["plan"])
            #expect(held.stdout.contains("production: held web 1.0.0 → 2.0.0")
                    && held.stdout.contains("secret TOKEN: SLIPWAY_TEST_CACHE_TOKEN is not set in Slipway's environment"), "\(held.output)")
            #expect(!held.output.contains("t0ken"))

            // What the cache says is what a plan without it says.
            let warm = try ops.slipway(["plan", "--json"], environment: token)
            try FileManager.default.removeItem(at: cache)
            let cold = try ops.slipway(["plan", "--json"], environment: token)
            #expect(warm.stdout == cold.stdout && warm.status == cold.status)
            #expect(try ops.slipway(["apply"], environment: token).status == 0)
            #expect(fetch(production)?.body == "web 2.0.0\n" && fetch(qa)?.body == "web 1.0.0\n")
        }
    }

    @Test("a plan made before another run deployed its environment starts nothing: the lane is judged again when it is free")
    func stalePlanDeploysNothing() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
            #expect(try ops.slipway(["apply"]).status == 0)
            try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", listen: port))
            let repository = try await OpsRepository.open(path: ops.repo.path)
            let engine = Engine(repository: repository, configuration: EngineConfiguration(
                state: StateDirectory(root: ops.stateDirectory), environment: [:], resolver: .standard(extra: [Command.productsDirectory]), logger: .init(label: "test")))
            let tip = try await repository.tip()
            let stale = try #require(try await engine.planner.plan(at: tip).environments.first)
            #expect(stale.action == .update)
            // Another run deploys 2.0.0 meanwhile (as a daemon's lane does before a plan made earlier is scheduled).
            let applied = try ops.slipway(["apply"])
            #expect(applied.status == 0, "\(applied.output)")
            let serving = ops.instances("production").map(\.process.pid)

            let outcome = try await engine.deploy(stale, desired: try await engine.desired(at: tip), at: tip)
            #expect(outcome.record == nil && outcome.plan.action == .none, "\(outcome)")
            #expect(try ops.git(["log", "--format=%H", "--grep", "Slipway-Result:"]).split(separator: "\n").count == 2)
            #expect(ops.instances("production").map(\.process.pid) == serving, "the healthy 2.0.0 instances were not replaced")
            #expect(fetch(port)?.body == "web 2.0.0\n")
        }
    }

    @Test("a failing gate tried four times in a row: four records in four files, four ids")
    func retriedFailureKeepsEveryRecord() async throws {
        try await OpsRepoFixture.with { ops in
            let gates = "gates:\n  preflight:\n    - { name: ci, note: { ref: refs/notes/ci, contains: passed } }"
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: try Ports.free(), rollback: gates))
            #expect(try ops.slipway(["apply"]).status == 1)
            for _ in 0..<3 { #expect(try ops.slipway(["apply", "--retry-failed"]).status == 1) }
            let files = try ops.git(["ls-tree", "-r", "--name-only", "HEAD", "Deployments/"]).split(separator: "\n").filter { $0.hasSuffix(".md") }
            #expect(files.count == 4, "\(files)")
            let rows = try history(ops)
            #expect(rows.count == 4 && Set(rows.map(\.deployment)).count == 4 && rows.allSatisfy { $0.result == "failed" }, "\(rows.map(\.deployment))")
            #expect(Set(files.map { String(($0.split(separator: "/").last ?? "").prefix { $0 != "_" }) }) == Set(rows.map(\.deployment)), "each file named by its id")
        }
    }
}
