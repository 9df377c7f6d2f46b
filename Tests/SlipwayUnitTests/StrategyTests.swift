import Foundation
import Testing
@testable import SlipwayEngine
@testable import SlipwayManifest
@testable import SlipwayRecords
@testable import SlipwayHost
@testable import SlipwayTraffic
import SlipwayCore

/// Every decision of every strategy, against an in-memory target and balancer (`Fakes.swift`):
/// no process, no HAProxy, no HTTP. Steps and analysis windows last milliseconds; the clock is
/// the real one.
@Suite("Strategies against fakes")
struct StrategyTests {
    static let canary = Strategy.canary(CanarySpec(steps: [50, 100], stepDuration: TimeSpan(milliseconds: 40), analysisInterval: TimeSpan(milliseconds: 10)))
    static func rolling(analysis: Bool = false) -> Strategy {
        .rolling(RollingSpec(batchSize: 1, analysis: analysis ? TimeSpan(milliseconds: 40) : nil, analysisInterval: TimeSpan(milliseconds: 10)))
    }
    static let blueGreen = Strategy.blueGreen(BlueGreenSpec(preview: nil, keepPrevious: TimeSpan(milliseconds: 60_000), autoPromote: true,
                                                            approvalTimeout: TimeSpan(milliseconds: 50)))

    /// The new version's servers (ids `2.0.0-N`) serve `canary`, the rest 100 requests without errors in 5 ms.
    static func serving(_ canary: @escaping @Sendable (Int) -> Served) -> @Sendable (String, Int) -> Served {
        { server, reading in server.hasPrefix("2.0.0") ? canary(reading) : Served(requests: 100) }
    }

    /// A scratch git repository (blue-green approvals are read from one), removed afterwards.
    static func withRepository<T>(_ body: (OpsRepository) async throws -> T) async throws -> T {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-unit-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: folder) }
        let git = Process()
        git.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        git.arguments = ["-c", "user.name=T", "-c", "user.email=t@example.com", "init", "-q", "--initial-branch=main", folder.path]
        try git.run()
        git.waitUntilExit()
        let commit = Process()
        commit.executableURL = git.executableURL
        commit.arguments = ["-C", folder.path, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "start"]
        try commit.run()
        commit.waitUntilExit()
        return try await body(try await OpsRepository.open(path: folder.path, branch: "main"))
    }

    func rolledBack(_ bench: StrategyBench, _ trigger: RollbackTrigger, repository: OpsRepository) async throws {
        let failure = await #expect(throws: DeploymentFailure.self) { _ = try await bench.run(repository: repository) }
        #expect(failure?.rollback?.trigger == trigger, "the rollback is part of the failure: \(failure?.reason ?? "no failure")")
        #expect(bench.target.running("2.0.0").isEmpty, "the new instances are stopped")
        for id in bench.target.running("1.0.0") { #expect(await bench.traffic.weight(id) == 100, "\(id) serves again") }
    }

    // MARK: Canary

    @Test("canary: healthy numbers at every step promote; the baseline is retired")
    func canaryPromotes() async throws {
        try await Self.withRepository { repository in
            let bench = try StrategyBench(Self.canary)
            let serving = try await bench.run(repository: repository)
            #expect(serving.map(\.version) == ["2.0.0", "2.0.0"] && bench.target.running("1.0.0").isEmpty)
            #expect(bench.log.analysis.map(\.decision) == [StepDecision.promoted, .promoted])
            for instance in serving { #expect(await bench.traffic.weight(instance.id) == 100) }
        }
    }

    @Test("canary: a first deployment without traffic comes up on its health checks; with traffic it is still judged")
    func canaryFirstDeployment() async throws {
        try await Self.withRepository { repository in
            let quiet = try StrategyBench(Self.canary, serve: Self.serving { _ in Served(requests: 0) })
            let serving = try await quiet.run(baseline: 0, repository: repository)
            #expect(serving.map(\.version) == ["2.0.0", "2.0.0"])
            #expect(quiet.log.analysis.map(\.decision) == [StepDecision.promoted] && quiet.log.analysis.first?.reason.hasPrefix("first deployment") == true)

            let failing = try StrategyBench(Self.canary, serve: Self.serving { _ in Served(requests: 100, errors: 60) })
            await #expect(throws: DeploymentFailure.self) { _ = try await failing.run(baseline: 0, repository: repository) }
        }
    }

    @Test("canary: too little traffic extends the step until a window decides, then promotes")
    func canaryExtendsOnNoData() async throws {
        try await Self.withRepository { repository in
            // Thin readings of the balancer first, then enough traffic. A reading samples /proc too, slow on a
            // busy machine: a step of 1 s leaves 3 s before "inconclusive" for the few readings it takes.
            let slow = Strategy.canary(CanarySpec(steps: [50, 100], stepDuration: TimeSpan(milliseconds: 1000), analysisInterval: TimeSpan(milliseconds: 10)))
            let bench = try StrategyBench(slow, serve: Self.serving { reading in Served(requests: reading <= 4 ? 1 : 100) })
            _ = try await bench.run(repository: repository)
            let first = try #require(bench.log.analysis.first)
            #expect(first.decision == .promoted && first.inconclusiveWindows > 0 && first.milliseconds >= 1000, "\(first)")
        }
    }

    @Test("canary: a step that stays without data past three times its length rolls back as inconclusive")
    func canaryInconclusive() async throws {
        try await Self.withRepository { repository in
            let bench = try StrategyBench(Self.canary, serve: Self.serving { _ in Served(requests: 0) })
            try await rolledBack(bench, .inconclusive, repository: repository)
        }
    }

    @Test("canary rolls back for each trigger", arguments: [
        (RollbackTrigger.errorRate, Served(requests: 100, errors: 40)),
        (.latency, Served(requests: 100, milliseconds: 400)),
        (.health, Served(requests: 100, health: .down)),
    ])
    func canaryRollsBack(trigger: RollbackTrigger, canary: Served) async throws {
        try await Self.withRepository { repository in
            // Healthy while starting (the first readings), then what the case says.
            let bench = try StrategyBench(Self.canary, serve: Self.serving { reading in reading <= 2 ? Served(requests: 100) : canary })
            try await rolledBack(bench, trigger, repository: repository)
        }
    }

    // MARK: Rolling

    @Test("rolling: batch by batch the new version replaces the old one")
    func rollingPromotes() async throws {
        try await Self.withRepository { repository in
            let bench = try StrategyBench(Self.rolling())
            let serving = try await bench.run(repository: repository)
            #expect(serving.count == 2 && bench.target.running("2.0.0").count == 2 && bench.target.running("1.0.0").isEmpty)
        }
    }

    @Test("rolling: a batch whose instance dies at start stops the rollout; what was retired is started again, the new ones removed")
    func rollingBatchFailure() async throws {
        try await Self.withRepository { repository in
            // Instances 1 and 2 are the baseline, 3 the first batch, 4 the second (dies), 5 the restarted old one.
            let bench = try StrategyBench(Self.rolling(), dies: [4])
            await #expect(throws: DeploymentFailure.self) { _ = try await bench.run(repository: repository) }
            #expect(bench.target.running("2.0.0").isEmpty)
            #expect(bench.target.running("1.0.0").count == 2, "one kept, one restarted: \(bench.target.instances().map(\.id))")
        }
    }

    @Test("rolling with analysis: a batch with too many errors rolls back")
    func rollingAnalysisRollsBack() async throws {
        try await Self.withRepository { repository in
            let bench = try StrategyBench(Self.rolling(analysis: true), serve: Self.serving { reading in Served(requests: 100, errors: reading <= 2 ? 0 : 50) })
            let failure = await #expect(throws: DeploymentFailure.self) { _ = try await bench.run(repository: repository) }
            #expect(failure?.rollback?.trigger == .errorRate)
            #expect(bench.target.running("2.0.0").isEmpty && bench.target.running("1.0.0").count == 2)
        }
    }

    // MARK: Blue-green

    @Test("blue-green: the new set starts at 0%, all traffic moves at once, the old set stays warm")
    func blueGreenSwitches() async throws {
        try await Self.withRepository { repository in
            let bench = try StrategyBench(Self.blueGreen)
            let serving = try await bench.run(repository: repository)
            for instance in serving { #expect(await bench.traffic.weight(instance.id) == 100) }
            let old = bench.target.instances().filter { $0.version == "1.0.0" }
            #expect(old.count == 2 && old.allSatisfy { $0.warmUntil != nil }, "kept warm: \(old)")
            for instance in old { #expect(await bench.traffic.weight(instance.id) == 0) }
        }
    }

    @Test("blue-green: a warm set of the same manifest is switched back to without starting anything")
    func blueGreenWarmSwitch() async throws {
        try await Self.withRepository { repository in
            let bench = try StrategyBench(Self.blueGreen)
            let warm = bench.target.baseline(2, version: "2.0.0", blob: fakeBlob("2.0.0")).map { instance in
                var warm = instance
                warm.warmUntil = Date().addingTimeInterval(60)
                return warm
            }
            for instance in warm { try await bench.traffic.add(BackendServer(name: instance.id, port: instance.port)) }
            let serving = try await bench.run(warm: warm, repository: repository)
            #expect(Set(serving.map(\.id)) == Set(warm.map(\.id)), "the warm set serves, nothing new started")
            #expect(bench.target.instances().count == 4)
        }
    }

    @Test("blue-green without autoPromote: no approval in time switches nothing and stops the new set")
    func blueGreenApprovalTimesOut() async throws {
        try await Self.withRepository { repository in
            let spec = BlueGreenSpec(preview: nil, keepPrevious: TimeSpan(milliseconds: 0), autoPromote: false, approvalTimeout: TimeSpan(milliseconds: 50))
            let bench = try StrategyBench(.blueGreen(spec))
            await #expect(throws: DeploymentFailure.self) { _ = try await bench.run(repository: repository) }
            #expect(bench.target.running("2.0.0").isEmpty)
            for id in bench.target.running("1.0.0") { #expect(await bench.traffic.weight(id) == 100) }
        }
    }
}
