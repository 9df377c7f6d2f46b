import Foundation
import Testing
@testable import SlipwayEngine
@testable import SlipwayManifest
@testable import SlipwayHost
import SlipwayCore

/// The strategies on a fleet (README, "Many machines"), against fake hosts (`FakeTarget` with
/// `hosts`): batches by host, weights across hosts, and a host lost mid-rollout.
@Suite("Strategies on a fleet, against fakes")
struct FleetStrategyTests {
    func instance(_ id: String, on host: String?) -> InstanceRecord {
        InstanceRecord(id: id, version: "1.0.0", port: 1, process: ProcessIdentity(pid: 1, startTime: 1), logFile: "", manifest: fakeBlob("1.0.0"),
                       startedAt: Date(), remote: host.map { RemoteHost(destination: SSHDestination(host: $0), address: $0, directory: "fleet") })
    }

    @Test("rolling batches: on this machine batchSize instances at a time; on a fleet bootLimit hosts at a time, each host's old instances leaving with its batch")
    func plan() {
        let local = RollingStrategy.plan([nil, nil, nil], batchSize: 2, bootLimit: nil, baseline: [instance("a", on: nil), instance("b", on: nil)])
        #expect(local.batches.map(\.hosts.count) == [2, 1] && local.batches.map { $0.leaving.map(\.id) } == [["a", "b"], []] && local.surplus.isEmpty)

        let hosts = ["h1", "h2", "h3", "h4"]
        let old = hosts.map { instance("old-\($0)", on: $0) } + [instance("here", on: nil)]
        let fleet = RollingStrategy.plan(hosts.flatMap { [$0, $0] }, batchSize: 1, bootLimit: 3, baseline: old)
        #expect(fleet.batches.map(\.hosts) == [["h1", "h1", "h2", "h2", "h3", "h3"], ["h4", "h4"]])
        #expect(fleet.batches.map { $0.leaving.map(\.id) } == [["old-h1", "old-h2", "old-h3"], ["old-h4"]])
        #expect(fleet.surplus.map(\.id) == ["here"], "an instance on no host of the fleet leaves at the end")
    }

    @Test("canary weights span the fleet: 1% across 10 hosts gives the new version about 1% of the requests")
    func weightsAcrossHosts() {
        let canary = (1...10).map { "new-\($0)" }, baseline = (1...10).map { "old-\($0)" }
        let weights = CanaryStrategy.weights(percent: 1, canary: canary, baseline: baseline)
        let share = Double(canary.map { weights[$0] ?? 0 }.reduce(0, +)) / Double(weights.values.reduce(0, +))
        #expect(abs(share - 0.01) < 0.005, "canary share \(share)")
        #expect(weights.values.allSatisfy { (1...256).contains($0) })
    }

    @Test("rolling over 4 hosts, bootLimit 2: every host runs the new version, one set per host")
    func rollingByHosts() async throws {
        try await StrategyTests.withRepository { repository in
            let bench = try StrategyBench(StrategyTests.rolling(), replicas: 1, hosts: 4, bootLimit: 2)
            let serving = try await bench.run(baseline: 1, repository: repository)
            #expect(Set(serving.compactMap(\.host)) == ["host1", "host2", "host3", "host4"] && serving.count == 4)
            #expect(bench.target.running("1.0.0").isEmpty)
        }
    }

    @Test("a host lost during the second batch puts the whole fleet back on the previous version, the hosts already switched included")
    func hostLostMidRollout() async throws {
        try await StrategyTests.withRepository { repository in
            // Starts 1–4: the baseline; 5, 6: batch 1 (host1, host2); then host3 stops answering.
            let bench = try StrategyBench(StrategyTests.rolling(), replicas: 1, hosts: 4, bootLimit: 2, downAfter: (starts: 6, host: "host3"))
            let failure = await #expect(throws: (any Error).self) { _ = try await bench.run(baseline: 1, repository: repository) }
            #expect(failure.map { "\($0)" }?.contains("host3") == true, "\(failure.map { "\($0)" } ?? "")")
            #expect(bench.target.running("2.0.0").isEmpty, "no host keeps the new version")
            let old = bench.target.running(bench.target.instances().filter { $0.version == "1.0.0" })
            #expect(Set(old.compactMap(\.host)) == ["host1", "host2", "host4"], "the previous version serves on every host that answers: \(old.map(\.id))")
            for instance in old { #expect(await bench.traffic.weight(instance.id) == 100) }
        }
    }

    @Test("a host lost after its new instance started: that instance cannot be stopped and gets no traffic; the rollback after it starts nothing twice")
    func hostLostAfterStart() async throws {
        try await StrategyTests.withRepository { repository in
            // Starts 1–4: the baseline; 5, 6: batch 1; 7: host3's new instance, then host3 stops answering.
            let bench = try StrategyBench(StrategyTests.rolling(), replicas: 1, hosts: 4, bootLimit: 2, downAfter: (starts: 7, host: "host3"))
            await #expect(throws: (any Error).self) { _ = try await bench.run(baseline: 1, repository: repository) }
            let leftover = bench.target.instances().filter { $0.version == "2.0.0" }
            #expect(leftover.map(\.host) == ["host3"] && leftover.allSatisfy { $0.warmUntil == .distantPast },
                    "the one that could not be stopped is set aside, never to serve: \(leftover)")
            // What the pipeline does next (`undo`): the new version's instances give the traffic back.
            let context = try await bench.context(baseline: [], repository: repository)
            _ = await context.rollBackAfterPromotion(leftover, trigger: .health, reason: "host3 lost")
            let old = bench.target.running(bench.target.instances().filter { $0.version == "1.0.0" })
            #expect(old.compactMap(\.host).sorted() == ["host1", "host2", "host4"], "one previous instance per host that answers, none twice: \(old.map(\.id))")
        }
    }

    @Test("canary across 3 hosts with a bad version: rolled back on every host")
    func canaryAcrossHosts() async throws {
        try await StrategyTests.withRepository { repository in
            let bench = try StrategyBench(StrategyTests.canary, replicas: 1, hosts: 3,
                                          serve: StrategyTests.serving { reading in Served(requests: 100, errors: reading <= 2 ? 0 : 50) })
            try await StrategyTests().rolledBack(bench, .errorRate, repository: repository)
            #expect(Set(bench.target.running(bench.target.instances()).compactMap(\.host)) == ["host1", "host2", "host3"])
        }
    }
}

@Suite("Dry run of a fleet")
struct FleetDryRunTests {
    @Test("apply --dry-run on a fleet counts replicas on every host and rolling batches of bootLimit hosts with bootWait between them")
    func dryRun() throws {
        let text = """
            service: web
            version: "2"
            run: { command: ["web"], replicas: 2 }
            traffic: { listen: "127.0.0.1:8080" }
            target: { kind: ssh, hosts: [a, b, c, d, e], bootLimit: 2, bootWait: 5s }

            """
        var manifest = try ManifestParser.parse(Data(text.utf8), path: "Environments/production.yaml")
        let plan = EnvironmentPlan(environment: "production", action: .update, service: "web", desiredVersion: "2", deployedVersion: "1", changes: [], reason: nil)
        let rolling = DryRun.describe(plan, manifest: manifest).joined(separator: "\n")
        #expect(rolling.contains("rolling: 3 batch(es) of 2 host(s)") && rolling.contains("5s between batches"), "\(rolling)")
        manifest.strategy = StrategyTests.canary
        #expect(DryRun.describe(plan, manifest: manifest).joined(separator: "\n").contains("canary: 10 new instance(s) on 5 host(s) at 0%"))
    }
}
