import Foundation
import Testing
import Synchronization
import SlipwayCore
@testable import SlipwayRecords
@testable import SlipwayHost

/// The `rollback` resource rules on real instances of the demo service under real load
/// through HAProxy: memory and CPU read from /proc, both versions side by side.
@Suite("resource checks on real processes", .serialized)
struct ResourceAnalysisTests {
    static let canary = "canary: { steps: [50, 100], stepDuration: 6s, analysisInterval: 2s }"

    /// Deploys 1.0.0, then 2.0.0 with `arguments` by `strategy` under `load`; returns the apply and the record.
    func deploy(_ ops: OpsRepoFixture, arguments: [String], strategy: String = Self.canary, rollback: String, warmup: String = "1s",
                load: (Int) -> any Stoppable) throws -> (CommandResult, DeploymentRecord, String) {
        let port = try Ports.free()
        try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
        let first = try ops.slipway(["apply"])
        #expect(first.status == 0, "\(first.output)")
        try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", listen: port, extraArguments: arguments, strategy: strategy,
                                                                     rollback: "rollback:\n  minRequests: 10\n  warmup: \(warmup)\n" + rollback))
        let client = load(port)
        defer { client.stop() }
        let result = try ops.slipway(["apply"])
        return (result, try ops.lastRecord(), try ops.git(["show", "HEAD:\(try ops.lastRecordPath())"]))
    }

    @Test("a version that leaks memory under load is rolled back by memoryIncrease during its canary, both versions' figures in the record")
    func leakUnderLoad() async throws {
        try await OpsRepoFixture.with { ops in
            let (result, record, text) = try deploy(ops, arguments: ["--leak-kb-per-request", "64"], rollback: "  memoryIncrease: 50%\n",
                                                    load: { LoadClient(port: $0) })
            #expect(result.status == 1, "\(result.output)")
            #expect(record.result == .rolledBack && record.rollback?.trigger == .memory, "\(record.rollback?.reason ?? "")")
            let row = try #require(record.analysis.last?.resources)
            let new = try #require(row.new), previous = try #require(row.previous)
            #expect(new.residentBytes > previous.residentBytes * 3 / 2, "\(row)")
            #expect(text.contains("| new: CPU | memory | files | previous: CPU |"), "\(text)")
            #expect(ops.instances("production").allSatisfy { $0.version == "1.0.0" })
        }
    }

    @Test("the same leaking version without load (a request now and then) is promoted: no false alarm; status shows each instance's CPU and memory")
    func leakWithoutLoad() async throws {
        try await OpsRepoFixture.with { ops in
            let (result, record, text) = try deploy(ops, arguments: ["--leak-kb-per-request", "64"], rollback: "  memoryIncrease: 50%\n  memoryLimit: 256MiB\n",
                                                    load: { Trickle(port: $0, every: .milliseconds(50)) })
            #expect(result.status == 0, "\(result.output)")
            #expect(record.result == .succeeded)
            #expect(record.analysis.count == 2 && record.analysis.allSatisfy { $0.resources?.verdict == "pass" }, "\(record.analysis.map(\.resources))")
            #expect(record.resources?.new != nil && record.resources?.previous != nil, "post-deploy's resources step: \(String(describing: record.resources))")
            #expect(text.contains("| post-deploy |"), "\(text)")
            let status = try ops.slipway(["status"])
            let lines = status.output.split(separator: "\n").filter { $0.contains(" 2.0.0: CPU ") && $0.contains("MiB") && $0.contains("files") }
            #expect(lines.count == 2, "\(status.output)")
            let json = try ops.slipway(["status", "--json"])
            let report = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
            let rows = (report?["environments"] as? [[String: Any]])?.first?["instances"] as? [[String: Any]] ?? []
            #expect(rows.count == 2 && rows.allSatisfy { (($0["usage"] as? [String: Any])?["residentBytes"] as? Int ?? 0) > 1 << 20 }, "\(json.output)")
        }
    }

    @Test("a version that burns CPU per request is rolled back by cpuIncrease")
    func cpuBurn() async throws {
        // 3 ms of CPU per request also slows responses; on a busy machine queueing made the
        // latency rule fire first (a CI run), so latency is allowed to grow a hundredfold here.
        try await OpsRepoFixture.with { ops in
            let (result, record, _) = try deploy(ops, arguments: ["--burn-ms-per-request", "3"], rollback: "  cpuIncrease: 100%\n  latencyIncrease: 10000%\n", warmup: "0s",
                                                 load: { LoadClient(port: $0) })
            #expect(result.status == 1, "\(result.output)")
            #expect(record.rollback?.trigger == .cpu, "\(record.rollback?.reason ?? "")")
            #expect(record.rollback?.reason.contains("ms per request") == true)
            let row = record.analysis.last?.resources
            #expect((row?.new?.cpuPerRequest ?? 0) > 2 * (row?.previous?.cpuPerRequest ?? .infinity), "both versions' CPU per request: \(String(describing: row))")
        }
    }

    @Test("memoryLimit stops a rolling update at its first batch whose instance passes the limit")
    func memoryLimit() async throws {
        try await OpsRepoFixture.with { ops in
            let (result, record, _) = try deploy(ops, arguments: ["--leak-kb-per-request", "128"],
                                                 strategy: "rolling: { batchSize: 1, analysis: 8s, analysisInterval: 2s }",
                                                 rollback: "  memoryLimit: 64MiB\n", load: { LoadClient(port: $0) })
            #expect(result.status == 1, "\(result.output)")
            #expect(record.rollback?.trigger == .memory && record.rollback?.reason.contains("memoryLimit") == true, "\(record.rollback?.reason ?? "")")
            #expect(record.analysis.map(\.step) == ["batch 1/2"], "stopped at the first batch")
            let instances = ops.instances("production")
            #expect(instances.count == 2 && instances.allSatisfy { $0.version == "1.0.0" }, "\(instances)")
        }
    }
}

/// Something sending requests until stopped.
protocol Stoppable { @discardableResult func stop() -> LoadClient.Summary }

extension LoadClient: Stoppable {}

/// One request every `every` until stopped: a service nobody is using much. A thread of its
/// own, as the load client's: its requests block.
final class Trickle: Stoppable, Sendable {
    private let stopped = Mutex(false)
    private let finished = DispatchSemaphore(value: 0)

    init(port: Int, every: Duration) {
        Thread.detachNewThread { [self] in
            while !stopped.withLock({ $0 }) {
                _ = try? RawHTTP.get(host: "127.0.0.1", port: port, path: "/", timeout: .seconds(2))
                Thread.sleep(forTimeInterval: every.inSeconds)  // pacing, not synchronisation
            }
            finished.signal()
        }
    }

    func stop() -> LoadClient.Summary {
        stopped.withLock { $0 = true }
        finished.wait()
        return LoadClient.Summary(succeeded: 0, failed: 0, errors: [], versions: [])
    }
}
