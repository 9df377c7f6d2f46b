import Foundation
import Testing
@testable import SlipwayEngine
@testable import SlipwayManifest
@testable import SlipwayRecords
@testable import SlipwayHost
import SlipwayCore

/// The `rollback` resource rules: the decision on given figures, and canary and rolling runs
/// against the fakes (`Fakes.swift`) whose instances report fixed usage per version.
@Suite("resource checks")
struct ResourceChecksTests {
    static let mib = 1 << 20

    static func figures(cpu: Double = 2, perRequest: Double? = nil, rss: Int) -> ResourceFigures {
        ResourceFigures(instances: 2, cpuPercent: cpu, cpuPerRequest: perRequest, residentBytes: rss, maxResidentBytes: rss, openFiles: 10, seconds: 5)
    }

    @Test("the decision: a limit holds from the start; increases wait for warm-up, need a previous version and pass a floor")
    func decisions() {
        var rules = ResourceRules(cpuIncrease: 0.5, memoryIncrease: 0.5, memoryLimit: 512 * Self.mib)
        let judge = ResourceJudge(rules: rules)
        let base = Self.figures(perRequest: 0.5, rss: 40 * Self.mib)

        #expect(ResourceJudge(rules: ResourceRules()).judge(new: base, previous: nil, warmingUp: true).verdict == .pass, "no rule: recorded only")
        #expect(judge.judge(new: nil, previous: base, warmingUp: false).verdict == .inconclusive, "no reading is never a pass")
        #expect(judge.judge(new: Self.figures(rss: 600 * Self.mib), previous: base, warmingUp: true).verdict == .fail(.memory))
        #expect(judge.judge(new: Self.figures(rss: 90 * Self.mib), previous: base, warmingUp: true).verdict == .inconclusive)
        let leak = judge.judge(new: Self.figures(rss: 90 * Self.mib), previous: base, warmingUp: false)
        #expect(leak.verdict == .fail(.memory) && leak.reason.contains("90 MiB") && leak.reason.contains("40 MiB"), "\(leak.reason)")
        #expect(judge.judge(new: Self.figures(perRequest: 0.6, rss: 45 * Self.mib), previous: base, warmingUp: false).verdict == .pass)
        let small = Self.figures(perRequest: 0.5, rss: 4 * Self.mib)
        #expect(judge.judge(new: Self.figures(perRequest: 0.5, rss: 10 * Self.mib), previous: small, warmingUp: false).verdict == .pass,
                "+150% but 6 MiB: under the floor")
        let burn = judge.judge(new: Self.figures(perRequest: 5.5, rss: 40 * Self.mib), previous: base, warmingUp: false)
        #expect(burn.verdict == .fail(.cpu) && burn.reason.contains("5.50 ms per request"), "\(burn.reason)")
        #expect(judge.judge(new: Self.figures(perRequest: 0.44, rss: 40 * Self.mib), previous: Self.figures(perRequest: 0.25, rss: 40 * Self.mib),
                            warmingUp: false).verdict == .pass, "+76% but 0.19 ms per request: under the floor")
        #expect(judge.judge(new: Self.figures(cpu: 40, perRequest: 0.5, rss: 40 * Self.mib), previous: base, warmingUp: false).verdict == .pass,
                "per request where both sides have it, not the share of a core (the canary may take more of the traffic)")
        #expect(judge.judge(new: Self.figures(cpu: 40, rss: 40 * Self.mib), previous: Self.figures(cpu: 2, rss: 40 * Self.mib),
                            warmingUp: false).verdict == .fail(.cpu), "without requests: the share of a core")
        #expect(judge.judge(new: Self.figures(rss: 90 * Self.mib), previous: nil, warmingUp: false).verdict == .pass, "nothing to compare with")
        rules.memoryLimit = nil
        #expect(ResourceJudge(rules: rules).judge(new: Self.figures(rss: 600 * Self.mib), previous: nil, warmingUp: true).verdict == .inconclusive)
    }

    @Test("figures between two readings: CPU per instance and per request, mean and largest memory; an instance read once is left out")
    func figures() {
        let start = ContinuousClock.now
        let before = ResourceReading(at: start, date: Date(), samples: ["a": ResourceSample(cpuSeconds: 1, residentBytes: 10, openFiles: 4),
                                                                         "b": ResourceSample(cpuSeconds: 1, residentBytes: 10, openFiles: 4)])
        let after = ResourceReading(at: start + .seconds(2), date: Date(), samples: ["a": ResourceSample(cpuSeconds: 2, residentBytes: 30, openFiles: 6),
                                                                                     "b": ResourceSample(cpuSeconds: 1.5, residentBytes: 10, openFiles: 4),
                                                                                     "c": ResourceSample(cpuSeconds: 9, residentBytes: 99, openFiles: 9)])
        let figures = ResourceFigures.between(before, after, ids: ["a", "b", "c"], requests: 300, minRequests: 50)
        #expect(figures == ResourceFigures(instances: 2, cpuPercent: 37.5, cpuPerRequest: 5, residentBytes: 20, maxResidentBytes: 30, openFiles: 5, seconds: 2))
        #expect(ResourceFigures.between(before, after, ids: ["a"], requests: 10, minRequests: 50)?.cpuPerRequest == nil, "too few requests to say")
        #expect(ResourceFigures.between(before, after, ids: ["c"], requests: 300, minRequests: 50) == nil)
    }

    @Test("canary: a new version over memoryIncrease rolls back with both versions' figures in the step's row")
    func canaryMemory() async throws {
        try await StrategyTests.withRepository { repository in
            var rules = ResourceRules(memoryIncrease: 0.5)
            rules.warmup = TimeSpan(milliseconds: 0)
            let bench = try StrategyBench(StrategyTests.canary, resources: rules)
            bench.target.resources.withLock {
                $0 = ["1.0.0": ResourceSample(cpuSeconds: 1, residentBytes: 20 * Self.mib, openFiles: 8),
                      "2.0.0": ResourceSample(cpuSeconds: 1, residentBytes: 200 * Self.mib, openFiles: 8)]
            }
            try await StrategyTests().rolledBack(bench, .memory, repository: repository)
            let row = try #require(bench.log.analysis.last?.resources)
            #expect(row.new?.residentBytes == 200 * Self.mib && row.previous?.residentBytes == 20 * Self.mib && row.verdict.contains("over +50%"), "\(row)")
        }
    }

    @Test("canary: within the rules it promotes, and every row carries both versions' figures")
    func canaryWithin() async throws {
        try await StrategyTests.withRepository { repository in
            var rules = ResourceRules(memoryIncrease: 0.5, memoryLimit: 512 * Self.mib)
            rules.warmup = TimeSpan(milliseconds: 0)
            let bench = try StrategyBench(StrategyTests.canary, resources: rules)
            bench.target.resources.withLock {
                $0 = ["1.0.0": ResourceSample(cpuSeconds: 1, residentBytes: 20 * Self.mib, openFiles: 8),
                      "2.0.0": ResourceSample(cpuSeconds: 1, residentBytes: 24 * Self.mib, openFiles: 8)]
            }
            _ = try await bench.run(repository: repository)
            #expect(bench.log.analysis.allSatisfy { $0.decision == .promoted && $0.resources?.verdict == "pass" && $0.resources?.new != nil })
        }
    }

    @Test("rolling without analysis: the first batch over memoryLimit stops the rollout and the previous version comes back")
    func rollingLimit() async throws {
        try await StrategyTests.withRepository { repository in
            let bench = try StrategyBench(StrategyTests.rolling(), resources: ResourceRules(memoryLimit: 512 * Self.mib))
            bench.target.resources.withLock {
                $0 = ["1.0.0": ResourceSample(cpuSeconds: 1, residentBytes: 20 * Self.mib, openFiles: 8),
                      "2.0.0": ResourceSample(cpuSeconds: 1, residentBytes: 600 * Self.mib, openFiles: 8)]
            }
            let failure = await #expect(throws: DeploymentFailure.self) { _ = try await bench.run(repository: repository) }
            #expect(failure?.trigger == .memory && failure?.reason.hasPrefix("batch 1/2") == true, "\(failure?.reason ?? "")")
            #expect(bench.target.running("2.0.0").isEmpty && bench.target.running("1.0.0").count == 2)
        }
    }

    @Test("rollback.cpuIncrease, memoryIncrease, memoryLimit and warmup parse; a bare number or a size out of range is an error at its place")
    func manifest() throws {
        let base = """
            service: web
            version: "1"
            run: { command: ["web"] }
            traffic: { listen: "127.0.0.1:8080" }
            rollback:

            """
        let parsed = try ManifestParser.parse(Data((base + "  { cpuIncrease: 50%, memoryIncrease: 25%, memoryLimit: 1.5GiB, warmup: 30s }").utf8),
                                              path: "Environments/production.yaml")
        #expect(parsed.rollback.resources.cpuIncrease == 0.5 && parsed.rollback.resources.memoryIncrease == 0.25)
        #expect(parsed.rollback.resources.memoryLimit == 3 << 29 && parsed.rollback.resources.warmup == .seconds(30))
        #expect(try ManifestParser.parse(Data((base + "  { minRequests: 5 }").utf8), path: "x.yaml").rollback.resources.isEmpty)
        for (text, message) in [("memoryLimit: 512", "must be a size such as 512MiB"), ("memoryLimit: 1KiB", "must be between 1 MiB and 1 TiB"),
                                ("cpuIncrease: 0.5", "must be a percentage")] {
            do {
                _ = try ManifestParser.parse(Data((base + "  { \(text) }").utf8), path: "Environments/production.yaml")
                Issue.record("accepted \(text)")
            } catch {
                let messages = error.diagnostics.map(\.description)
                #expect(messages.contains { $0.hasPrefix("Environments/production.yaml:6:") && $0.contains(message) }, "\(messages)")
            }
        }
    }
}
