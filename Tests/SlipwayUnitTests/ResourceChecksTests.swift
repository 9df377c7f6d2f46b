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

        #expect(ResourceJudge(rules: ResourceRules()).judge(new: base, previous: nil, expectsPrevious: true, warmingUp: true).verdict == .pass, "no rule: recorded only")
        #expect(judge.judge(new: nil, previous: base, expectsPrevious: true, warmingUp: false).verdict == .inconclusive, "no reading is never a pass")
        #expect(judge.judge(new: Self.figures(rss: 600 * Self.mib), previous: base, expectsPrevious: true, warmingUp: true).verdict == .fail(.memory))
        #expect(judge.judge(new: Self.figures(rss: 90 * Self.mib), previous: base, expectsPrevious: true, warmingUp: true).verdict == .inconclusive)
        let leak = judge.judge(new: Self.figures(rss: 90 * Self.mib), previous: base, expectsPrevious: true, warmingUp: false)
        #expect(leak.verdict == .fail(.memory) && leak.reason.contains("90 MiB") && leak.reason.contains("40 MiB"), "\(leak.reason)")
        #expect(judge.judge(new: Self.figures(perRequest: 0.6, rss: 45 * Self.mib), previous: base, expectsPrevious: true, warmingUp: false).verdict == .pass)
        let small = Self.figures(perRequest: 0.5, rss: 4 * Self.mib)
        #expect(judge.judge(new: Self.figures(perRequest: 0.5, rss: 10 * Self.mib), previous: small, expectsPrevious: true, warmingUp: false).verdict == .pass,
                "+150% but 6 MiB: under the floor")
        let burn = judge.judge(new: Self.figures(perRequest: 5.5, rss: 40 * Self.mib), previous: base, expectsPrevious: true, warmingUp: false)
        #expect(burn.verdict == .fail(.cpu) && burn.reason.contains("5.50 ms per request"), "\(burn.reason)")
        #expect(judge.judge(new: Self.figures(perRequest: 0.44, rss: 40 * Self.mib), previous: Self.figures(perRequest: 0.25, rss: 40 * Self.mib),
                            expectsPrevious: true, warmingUp: false).verdict == .pass, "+76% but 0.19 ms per request: under the floor")
        #expect(judge.judge(new: Self.figures(cpu: 40, perRequest: 0.5, rss: 40 * Self.mib), previous: base, expectsPrevious: true, warmingUp: false).verdict == .pass,
                "per request where both sides have it, not the share of a core (the canary may take more of the traffic)")
        #expect(judge.judge(new: Self.figures(cpu: 40, rss: 40 * Self.mib), previous: Self.figures(cpu: 2, rss: 40 * Self.mib), expectsPrevious: true,
                            warmingUp: false).verdict == .inconclusive, "without CPU per request on both sides nothing is compared")
        let few = ResourceFigures(instances: 4, cpuPercent: 5, cpuPerRequest: 4, requests: 50, residentBytes: 40 * Self.mib,
                                  maxResidentBytes: 40 * Self.mib, openFiles: 8, seconds: 10)
        #expect(judge.judge(new: few, previous: Self.figures(perRequest: 0.5, rss: 40 * Self.mib), expectsPrevious: true, warmingUp: false).verdict == .pass,
                "a canary set on a sliver of the traffic: 4 instances' background over 10 s on 50 requests is ~10 ms per request of noise")
        #expect(judge.judge(new: Self.figures(rss: 90 * Self.mib), previous: nil, expectsPrevious: false, warmingUp: false).verdict == .pass, "nothing to compare with")
        rules.memoryLimit = nil
        #expect(ResourceJudge(rules: rules).judge(new: Self.figures(rss: 600 * Self.mib), previous: nil, expectsPrevious: true, warmingUp: true).verdict == .inconclusive)
    }

    @Test("figures between two readings: CPU per instance and per request, mean and largest memory; an instance read once is left out")
    func figures() {
        let start = ContinuousClock.now
        let before = ResourceReading(at: start, date: Date(), samples: ["a": ResourceSample(cpuSeconds: 1, residentBytes: 10, openFiles: 4),
                                                                         "b": ResourceSample(cpuSeconds: 1, residentBytes: 10, openFiles: 4)])
        let after = ResourceReading(at: start + .seconds(2), date: Date(), samples: ["a": ResourceSample(cpuSeconds: 2, residentBytes: 30, openFiles: 6),
                                                                                     "b": ResourceSample(cpuSeconds: 1.5, residentBytes: 10, openFiles: 4),
                                                                                     "c": ResourceSample(cpuSeconds: 9, residentBytes: 99, openFiles: 9)])
        let served = ["a": 200, "b": 100, "c": 5_000]
        let requests: (Set<String>) -> Int = { $0.reduce(0) { $0 + (served[$1] ?? 0) } }
        let figures = ResourceFigures.between(before, after, ids: ["a", "b", "c"], requests: requests, minRequests: 50)
        #expect(figures == ResourceFigures(instances: 2, cpuPercent: 37.5, cpuPerRequest: 5, requests: 300, residentBytes: 20, maxResidentBytes: 30,
                                           openFiles: 5, seconds: 2), "c was read once: neither its CPU nor its requests count")
        #expect(ResourceFigures.between(before, after, ids: ["b"], requests: { _ in 10 }, minRequests: 50)?.cpuPerRequest == nil, "too few requests to say")
        #expect(ResourceFigures.between(before, after, ids: ["c"], requests: requests, minRequests: 50) == nil)
    }

    @Test("canary: a new version over memoryIncrease rolls back with both versions' figures in the step's row")
    func canaryMemory() async throws {
        try await StrategyTests.withRepository { repository in
            let rules = ResourceRules(memoryIncrease: 0.5, warmup: TimeSpan(milliseconds: 0))
            let bench = try StrategyBench(StrategyTests.canary, resources: rules)
            bench.target.use(["1.0.0": ResourceSample(cpuSeconds: 1, residentBytes: 20 * Self.mib, openFiles: 8),
                      "2.0.0": ResourceSample(cpuSeconds: 1, residentBytes: 200 * Self.mib, openFiles: 8)])
            try await StrategyTests().rolledBack(bench, .memory, repository: repository)
            let row = try #require(bench.log.analysis.last?.resources)
            #expect(row.new?.residentBytes == 200 * Self.mib && row.previous?.residentBytes == 20 * Self.mib && row.verdict.contains("over +50%"), "\(row)")
        }
    }

    @Test("canary: within the rules it promotes, and every row carries both versions' figures")
    func canaryWithin() async throws {
        try await StrategyTests.withRepository { repository in
            let rules = ResourceRules(memoryIncrease: 0.5, memoryLimit: 512 * Self.mib, warmup: TimeSpan(milliseconds: 0))
            let bench = try StrategyBench(StrategyTests.canary, resources: rules)
            bench.target.use(["1.0.0": ResourceSample(cpuSeconds: 1, residentBytes: 20 * Self.mib, openFiles: 8),
                      "2.0.0": ResourceSample(cpuSeconds: 1, residentBytes: 24 * Self.mib, openFiles: 8)])
            _ = try await bench.run(repository: repository)
            #expect(bench.log.analysis.allSatisfy { $0.decision == .promoted && $0.resources?.verdict == "pass" && $0.resources?.new != nil })
        }
    }

    @Test("warm-up: a new version big only in its first 300 ms is promoted once past rollback.warmup; with no warm-up the same start rolls back")
    func warmup() async throws {
        // Wide margins: young for 300 ms, warm-up 400 ms, a step bounded at 3 × 600 ms (a busy machine delays windows).
        let canary = Strategy.canary(CanarySpec(steps: [50, 100], stepDuration: TimeSpan(milliseconds: 600), analysisInterval: TimeSpan(milliseconds: 20)))
        for (warmup, promoted) in [(400, true), (0, false)] {
            try await StrategyTests.withRepository { repository in
                let bench = try StrategyBench(canary, resources: ResourceRules(memoryIncrease: 0.5, warmup: TimeSpan(milliseconds: warmup)))
                bench.target.usageOf.withLock {
                    $0 = { instance in
                        let young = instance.version == "2.0.0" && Date().timeIntervalSince(instance.startedAt) < 0.3
                        return ResourceSample(cpuSeconds: 1, residentBytes: (young ? 200 : 20) * Self.mib, openFiles: 8)
                    }
                }
                if promoted {
                    _ = try await bench.run(repository: repository)
                    let first = try #require(bench.log.analysis.first)
                    #expect(first.decision == .promoted && first.inconclusiveWindows > 0, "warm-up windows decide nothing: \(first)")
                    #expect(bench.log.analysis.last?.resources?.verdict == "pass")
                } else {
                    try await StrategyTests().rolledBack(bench, .memory, repository: repository)
                }
            }
        }
    }

    @Test("a baseline that cannot be read decides nothing: the increases are inconclusive, never a pass")
    func unreadableBaseline() {
        let judge = ResourceJudge(rules: ResourceRules(memoryIncrease: 0.5))
        #expect(judge.judge(new: Self.figures(rss: 90 * Self.mib), previous: nil, expectsPrevious: true, warmingUp: false).verdict == .inconclusive)
        let mixed = judge.judge(new: Self.figures(perRequest: 2, rss: 40 * Self.mib), previous: Self.figures(rss: 40 * Self.mib), expectsPrevious: true, warmingUp: false)
        #expect(mixed.verdict == .pass, "memory only: CPU has no rule")
        let cpu = ResourceJudge(rules: ResourceRules(cpuIncrease: 0.5))
        #expect(cpu.judge(new: Self.figures(perRequest: 2, rss: 40 * Self.mib), previous: Self.figures(rss: 40 * Self.mib), expectsPrevious: true,
                          warmingUp: false).verdict == .inconclusive, "per request on one side only: no comparison")
    }

    @Test("rolling without analysis: the first batch over memoryLimit stops the rollout and the previous version comes back")
    func rollingLimit() async throws {
        try await StrategyTests.withRepository { repository in
            let bench = try StrategyBench(StrategyTests.rolling(), resources: ResourceRules(memoryLimit: 512 * Self.mib))
            bench.target.use(["1.0.0": ResourceSample(cpuSeconds: 1, residentBytes: 20 * Self.mib, openFiles: 8),
                      "2.0.0": ResourceSample(cpuSeconds: 1, residentBytes: 600 * Self.mib, openFiles: 8)])
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
            strategy: { canary: { steps: [50, 100], stepDuration: 20s } }
            rollback:

            """
        let parsed = try ManifestParser.parse(Data((base + "  { cpuIncrease: 50%, memoryIncrease: 25%, memoryLimit: 1.5GiB, warmup: 30s }").utf8),
                                              path: "Environments/production.yaml")
        #expect(parsed.rollback.resources.cpuIncrease == 0.5 && parsed.rollback.resources.memoryIncrease == 0.25)
        #expect(parsed.rollback.resources.memoryLimit == 3 << 29 && parsed.rollback.resources.warmup == .seconds(30))
        #expect(try ManifestParser.parse(Data((base + "  { minRequests: 5 }").utf8), path: "x.yaml").rollback.resources.isEmpty)
        let cases = [
            ("memoryLimit: 512", "must be a size such as 512MiB"), ("memoryLimit: 1KiB", "must be between 1 MiB and 1 TiB"),
            ("cpuIncrease: 0.5", "must be a percentage"),
            ("memoryIncrease: 50%, warmup: 1m", "rollback.warmup (1m) must be shorter than three times strategy.canary.stepDuration (20s)"),
        ]
        for (text, message) in cases {
            do {
                _ = try ManifestParser.parse(Data((base + "  { \(text) }").utf8), path: "Environments/production.yaml")
                Issue.record("accepted \(text)")
            } catch {
                let messages = error.diagnostics.map(\.description)
                #expect(messages.contains { $0.hasPrefix("Environments/production.yaml:7:") && $0.contains(message) }, "\(messages)")
            }
        }
        let blueGreen = base.replacingOccurrences(of: "{ canary: { steps: [50, 100], stepDuration: 20s } }", with: "{ blueGreen: {} }")
        #expect(throws: (any Error).self, "blue-green has only gates.observe to judge an increase over") {
            try ManifestParser.parse(Data((blueGreen + "  { cpuIncrease: 50% }").utf8), path: "x.yaml")
        }
        let observed = blueGreen.replacingOccurrences(of: "rollback:", with: "gates: { observe: 30s }\nrollback:")
        #expect(try ManifestParser.parse(Data((observed + "  { cpuIncrease: 50%, memoryLimit: 1GiB }").utf8), path: "x.yaml").rollback.cpuIncrease == 0.5)
    }
}

@Suite("resource figures in a record's front matter")
struct ResourceFrontMatterTests {
    @Test("figures and verdicts read back as written: memory in MiB to one decimal, the largest instance's when 1 MiB above the mean, no verdict for recorded")
    func roundTrip() throws {
        let mib = 1 << 20
        var record = DeploymentRecord(
            deployment: "20261128T101500.000Z-abababa", environment: "production", service: "web", version: "2.0.0", previousVersion: "1.0.0",
            result: .rolledBack, reason: "memory", strategy: .canary, trigger: "abababababababababababababababababababab",
            triggerAuthor: "Pat <pat@example.com>", triggerSubject: "Release", manifest: nil, started: Date(timeIntervalSince1970: 1_800_000_000),
            finished: Date(timeIntervalSince1970: 1_800_000_010), changes: [], phases: [], instances: [], logs: [])
        let leaking = ResourceFigures(instances: 2, cpuPercent: 12.5, cpuPerRequest: 0.4, residentBytes: 90 * mib, maxResidentBytes: 120 * mib,
                                      openFiles: 9, seconds: 2)
        let steady = ResourceFigures(instances: 2, cpuPercent: 3, cpuPerRequest: nil, residentBytes: 25 * mib, maxResidentBytes: 25 * mib + 1000,
                                     openFiles: 8, seconds: 2)
        let metrics = Metrics(requests: 10, errors: 0, errorRate: 0, responseMilliseconds: 3)
        record.analysis = [StepAnalysis(step: "step 1/2", weight: 50, milliseconds: 1000, windows: 1, inconclusiveWindows: 0, canary: metrics,
                                        baseline: metrics, decision: .rolledBack, reason: "r",
                                        resources: ResourceComparison(new: leaking, previous: steady, verdict: "resident memory 90 MiB: over +50%"))]
        record.resources = ResourceComparison(new: steady, previous: steady, verdict: "recorded")
        let text = FrontMatter.record(record)
        #expect(text.contains("resources: {new: {instances: 2, cpu: 3, rssMiB: 25, files: 8}, previous: {instances: 2, cpu: 3, rssMiB: 25, files: 8}}"), "\(text)")
        let back = try FrontMatter.parseRecord("---\n\(text)\n---\n")
        let row = try #require(back.analysis.first?.resources)
        #expect(row.new?.residentBytes == 90 * mib && row.new?.maxResidentBytes == 120 * mib && row.new?.cpuPerRequest == 0.4)
        #expect(row.previous?.maxResidentBytes == 25 * mib && row.verdict == "resident memory 90 MiB: over +50%")
        #expect(back.resources?.verdict == "recorded" && back.resources?.new?.openFiles == 8)
    }
}
