import Foundation
import Testing
@testable import SlipwayEngine
@testable import SlipwayManifest
@testable import SlipwayRecords
@testable import SlipwayHost
import SlipwayGit

/// Canary analysis against a real HAProxy's counters, with a bounded load client on 127.0.0.1.
@Suite("Canary with baseline analysis", .serialized)
struct CanaryTests {
    static let canary = "canary: { steps: [25, 50, 100], stepDuration: 2s, analysisInterval: 1s }"
    static let policy = "rollback: { minRequests: 10 }"

    /// Deploys v1 (rolling), then commits v2 with `arguments` as a canary and applies it under load.
    func deployCanary(_ ops: OpsRepoFixture, port: Int, baselineArguments: [String] = [], arguments: [String],
                      strategy: String = canary, load: Bool = true) throws -> (result: CommandResult, traffic: LoadClient.Summary?, record: DeploymentRecord) {
        try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port, extraArguments: baselineArguments))
        let first = try ops.slipway(["apply"])
        #expect(first.status == 0, "\(first.output)")
        try ops.commit("Environments/production.yaml", testManifest(
            version: "2.0.0", listen: port, extraArguments: arguments, strategy: strategy, rollback: Self.policy))
        let client = load ? LoadClient(port: port) : nil
        let result = try ops.slipway(["apply"])
        let traffic = client?.stop()
        return (result, traffic, try ops.lastRecord())
    }

    func assertBackOnBaseline(_ ops: OpsRepoFixture, port: Int) {
        for _ in 0..<10 { #expect(fetch(port)?.body == "web 1.0.0\n") }
        let instances = ops.instances("production")
        #expect(instances.count == 2 && instances.allSatisfy { $0.version == "1.0.0" && $0.isRunning }, "\(instances)")
    }

    @Test("a healthy canary is promoted step by step to 100%, with no failed request and a table per step")
    func healthyCanary() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            let (result, traffic, record) = try deployCanary(ops, port: port, arguments: [])
            #expect(result.status == 0, "\(result.output)")
            #expect(traffic?.failed == 0, "\(traffic?.errors.prefix(3) ?? [])")
            #expect(record.result == .succeeded)
            #expect(record.analysis.map(\.weight) == [25, 50, 100])
            #expect(record.analysis.allSatisfy { $0.decision == .promoted && $0.canary.requests >= 10 })
            #expect(record.analysis.prefix(2).allSatisfy { ($0.baseline?.requests ?? 0) > 0 })
            let instances = ops.instances("production")
            #expect(instances.count == 2 && instances.allSatisfy { $0.version == "2.0.0" })
            #expect(fetch(port)?.body == "web 2.0.0\n")
            let text = try ops.git(["log", "-1", "-p"])
            #expect(text.contains("| step 1/3 | 25% |"), "\(text)")
        }
    }

    @Test("a canary answering 20% 5xx is rolled back at the first decisive analysis; traffic returns to the baseline")
    func erroringCanary() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            let (result, traffic, record) = try deployCanary(ops, port: port, arguments: ["--error-rate", "0.2"])
            #expect(result.status == 1, "\(result.output)")
            #expect(record.result == .rolledBack)
            #expect(record.rollback?.trigger == .errorRate)
            #expect((record.rollback?.switchMilliseconds ?? 999) < 100)
            #expect(record.rollback?.afterwards == "2 new instance(s) drained and stopped")
            #expect(record.analysis.count == 1)
            #expect(record.analysis.first?.decision == .rolledBack)
            #expect((record.analysis.first?.canary.errorRate ?? 0) >= 15)
            #expect((traffic?.failed ?? 0) > 0, "the bad canary did receive traffic")
            assertBackOnBaseline(ops, port: port)
            // The outcome is noted on the release commit, read with the git program and with libgit2.
            let noted = try ops.git(["notes", "--ref=slipway", "show", record.trigger.hex])
            #expect(noted.hasPrefix("production: web 1.0.0 → 2.0.0 rolled-back\nrolled back (") && noted.contains(record.path), "\(noted)")
            #expect(try await GitRepository(path: ops.repo.path).note("refs/notes/slipway", on: record.trigger) == noted)
            #expect(try ops.git(["log", "-1", "--notes=slipway", "--format=%N", record.trigger.hex]).contains("rolled-back"))
            // No canary process is left: each one logged its own orderly stop.
            let started = record.phases.flatMap(\.steps).first { $0.name.hasPrefix("start 2 × 2.0.0") }?.detail ?? ""
            let canaries = started.replacingOccurrences(of: "healthy: ", with: "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(canaries.count == 2, "\(started)")
            for id in canaries {
                let log = LogTail.lastLines(of: ops.stateDirectory.appendingPathComponent("envs/production/logs/\(id).log"), count: 1)
                #expect(log.last?.hasSuffix("stopped") == true, "\(id): \(log)")
            }
            let status = try ops.git(["show", "HEAD:Status/production.md"])
            #expect(status.contains("lastResult: rolled-back") && status.contains("failedVersion: 2.0.0") && status.contains("version: 1.0.0"))
            let retry = try ops.slipway(["apply"])
            #expect(retry.stdout.contains("production: waiting"), "\(retry.output)")
        }
    }

    @Test("a canary three times slower than the baseline is rolled back for latency")
    func slowCanary() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            let (result, _, record) = try deployCanary(ops, port: port, baselineArguments: ["--latency-ms", "20"],
                                                       arguments: ["--latency-ms", "60"])
            #expect(result.status == 1, "\(result.output)")
            #expect(record.result == .rolledBack)
            #expect(record.rollback?.trigger == .latency, "\(record.rollback?.reason ?? "")")
            assertBackOnBaseline(ops, port: port)
        }
    }

    @Test("a canary that gets no traffic is never promoted: inconclusive, extended to its bound, then rolled back")
    func noTraffic() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            let strategy = "canary: { steps: [50, 100], stepDuration: 1s, analysisInterval: 1s }"
            let (result, _, record) = try deployCanary(ops, port: port, arguments: [], strategy: strategy, load: false)
            #expect(result.status == 1, "\(result.output)")
            #expect(record.result == .rolledBack)
            #expect(record.rollback?.trigger == .inconclusive)
            #expect(record.analysis.count == 1)
            #expect(record.analysis.first?.reason.contains("not promoted on no data") == true)
            #expect((record.analysis.first?.inconclusiveWindows ?? 0) >= 3)
            assertBackOnBaseline(ops, port: port)
        }
    }

    @Test("a version failing its smoke check never takes traffic: failed before the first step")
    func smokeCheck() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            let gates = "gates:\n  smoke: [ { name: home, http: { path: /, expect: 200 } } ]"
            let (result, traffic, record) = try deployCanary(ops, port: port, arguments: ["--error-rate", "1.0"],
                                                             strategy: Self.canary + "\n" + gates)
            #expect(result.status == 1, "\(result.output)")
            #expect(record.result == .failed)
            #expect(record.reason?.contains("smoke check home: GET / on web-") == true, "\(record.reason ?? "")")
            #expect(traffic?.failed == 0, "a request reached the version that failed its smoke check")
            #expect(record.analysis.isEmpty)
            assertBackOnBaseline(ops, port: port)
        }
    }

    @Test("canary weights give the new set its share of the traffic")
    func weights() {
        let split = CanaryStrategy.weights(percent: 10, canary: ["c1", "c2"], baseline: ["b1", "b2", "b3"])
        let canary = Double(split["c1"]! + split["c2"]!), baseline = Double(split["b1"]! + split["b2"]! + split["b3"]!)
        #expect(abs(canary / (canary + baseline) - 0.10) < 0.01)
        #expect(split.values.allSatisfy { (1...256).contains($0) })
        #expect(CanaryStrategy.weights(percent: 100, canary: ["c"], baseline: ["b"]) == ["c": 100, "b": 0])
        #expect(CanaryStrategy.weights(percent: 1, canary: ["c"], baseline: ["b"])["c"] == 3)
    }

    @Test("the judge compares with the baseline and never decides on too few requests")
    func judge() {
        let judge = Judge(policy: RollbackPolicy(errorRateIncrease: 5, latencyIncrease: 0.5, minRequests: 50, onFailure: .record, restore: nil))
        let baseline = Sample(requests: 500, errors: 5, responseMilliseconds: 20)
        #expect(judge.judge(canary: Sample(requests: 49, errors: 49, responseMilliseconds: 20), baseline: baseline, reference: nil).verdict == .inconclusive)
        #expect(judge.judge(canary: Sample(requests: 100, errors: 20, responseMilliseconds: 20), baseline: baseline, reference: nil).verdict == .fail(.errorRate))
        #expect(judge.judge(canary: Sample(requests: 100, errors: 5, responseMilliseconds: 20), baseline: baseline, reference: nil).verdict == .pass)
        #expect(judge.judge(canary: Sample(requests: 100, errors: 1, responseMilliseconds: 31), baseline: baseline, reference: nil).verdict == .fail(.latency))
        #expect(judge.judge(canary: Sample(requests: 100, errors: 1, responseMilliseconds: 31), baseline: .empty, reference: baseline).verdict == .fail(.latency))
        #expect(judge.judge(canary: Sample(requests: 1, errors: 0, responseMilliseconds: 1, unhealthy: ["c1"]), baseline: baseline, reference: nil).verdict == .fail(.health))
        // A sub-millisecond baseline reads 0 ms: the latency check still applies, with a 5 ms floor.
        let fast = Sample(requests: 500, errors: 0, responseMilliseconds: 0)
        #expect(judge.judge(canary: Sample(requests: 100, errors: 0, responseMilliseconds: 150), baseline: fast, reference: nil).verdict == .fail(.latency))
        #expect(judge.judge(canary: Sample(requests: 100, errors: 0, responseMilliseconds: 4), baseline: fast, reference: nil).verdict == .pass)
    }
}

@Suite("onFailure: revert", .serialized)
struct RevertOnFailureTests {
    @Test("a rolled-back canary with onFailure: revert leaves the branch naming the running version, and nothing redeploys")
    func revert() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
            #expect(try ops.slipway(["apply"]).status == 0)
            let v1 = try ops.git(["show", "HEAD:Environments/production.yaml"])
            let trigger = try ops.commit("Environments/production.yaml", testManifest(
                version: "2.0.0", listen: port, extraArguments: ["--error-rate", "0.5"],
                strategy: CanaryTests.canary, rollback: "rollback: { minRequests: 10, onFailure: revert }"))
            // Someone's uncommitted edit elsewhere in the working tree must survive.
            try Data("draft\n".utf8).write(to: ops.workTree.appendingPathComponent("NOTES.md"))

            let load = LoadClient(port: port)
            let result = try ops.slipway(["apply"])
            _ = load.stop()
            #expect(result.status == 1, "\(result.output)")
            #expect(result.stdout.contains("production: reverted Environments/production.yaml to 1.0.0"), "\(result.output)")

            let subjects = try ops.git(["log", "-3", "--format=%s"]).split(separator: "\n")
            #expect(subjects.first?.hasPrefix("revert(production): web 2.0.0 → 1.0.0 after deployment") == true, "\(subjects)")
            #expect(subjects.dropFirst().first?.contains("rolled-back") == true)
            let trailers = try ops.git(["log", "-1", "--format=%(trailers:only,unfold)"])
            let deployment = try ops.git(["log", "-1", "--skip=1", "--format=%(trailers:key=Slipway-Deployment,valueonly)"]).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(trailers.contains("Slipway-Failed-Deployment: \(deployment)"), "\(trailers)")
            #expect(trailers.contains("Slipway-Reverts: \(trigger)"))
            #expect(try ops.git(["show", "HEAD:Environments/production.yaml"]) == v1)
            #expect(try ops.git(["status", "--porcelain"]) == "?? NOTES.md\n")

            let plan = try ops.slipway(["plan"])
            #expect(plan.stdout.contains("production: up to date (web 1.0.0)"), "\(plan.output)")
            let again = try ops.slipway(["apply"])
            #expect(again.status == 0 && again.stdout.contains("production: up to date"), "\(again.output)")
            let history = try ops.slipway(["history"])
            #expect(history.stdout.split(separator: "\n").count == 2, "the revert is not a deployment: \(history.stdout)")
        }
    }
}

@Suite("Rolling with analysis", .serialized)
struct RollingAnalysisTests {
    @Test("a bad version is rolled back after its first batch, before any old instance is touched")
    func badFirstBatch() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 3, listen: port))
            #expect(try ops.slipway(["apply"]).status == 0)
            let old = ops.instances("production")
            try ops.commit("Environments/production.yaml", testManifest(
                version: "2.0.0", replicas: 3, listen: port, extraArguments: ["--error-rate", "0.5"],
                strategy: "rolling: { batchSize: 1, analysis: 3s, analysisInterval: 1s }", rollback: "rollback: { minRequests: 10 }"))
            let load = LoadClient(port: port)
            let result = try ops.slipway(["apply"])
            _ = load.stop()
            #expect(result.status == 1, "\(result.output)")
            let history = try ops.slipway(["history", "--limit", "1"])
            #expect(history.stdout.contains("rolled-back"), "\(history.output)")
            let record = try ops.git(["log", "-1", "-p"])
            #expect(record.contains("| batch 1/3 |"), "\(record)")
            #expect(!record.contains("batch 2/3"))
            #expect(old.allSatisfy { $0.isRunning })
            let instances = ops.instances("production")
            #expect(Set(instances.map(\.id)) == Set(old.map(\.id)), "\(instances)")
            for _ in 0..<5 { #expect(fetch(port)?.body == "web 1.0.0\n") }
        }
    }
}
