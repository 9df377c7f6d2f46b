import Foundation
import Testing
@testable import SlipwayRecords
@testable import SlipwayHost

@Suite("Blue-green", .serialized)
struct BlueGreenTests {
    @Test("switches once with no failed request, keeps the old set warm, and a revert inside the window starts nothing")
    func switchAndRevert() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            let strategy = "blueGreen: { keepPrevious: 10m }"
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port, strategy: strategy))
            #expect(try ops.slipway(["apply"]).status == 0)
            let blue = ops.instances("production")

            let release = try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", listen: port, strategy: strategy))
            var load = LoadClient(port: port)
            let result = try ops.slipway(["apply"])
            var traffic = load.stop()
            #expect(result.status == 0, "\(result.output)")
            #expect(traffic.failed == 0, "\(traffic.errors.prefix(3))")
            #expect(traffic.versions == ["web 1.0.0\n", "web 2.0.0\n"])
            #expect(fetch(port)?.body == "web 2.0.0\n")
            let steps = try ops.lastRecord().phases.flatMap(\.steps).map(\.name)
            #expect(steps.filter { $0.hasPrefix("switch all traffic") }.count == 1, "\(steps)")
            let warm = ops.instances("production").filter { $0.warmUntil != nil }
            #expect(Set(warm.map(\.id)) == Set(blue.map(\.id)) && warm.allSatisfy { $0.isRunning && $0.version == "1.0.0" })

            // A revert inside keepPrevious: served by the warm set, nothing started.
            try Command.git(["revert", "--no-edit", release], in: ops.workTree)
            load = LoadClient(port: port)
            let back = try ops.slipway(["apply"])
            traffic = load.stop()
            #expect(back.status == 0, "\(back.output)")
            #expect(traffic.failed == 0, "\(traffic.errors.prefix(3))")
            let serving = ops.instances("production").filter { $0.warmUntil == nil }
            #expect(Set(serving.map(\.id)) == Set(blue.map(\.id)), "the warm set serves again")
            #expect(try ops.lastRecord().phases.flatMap(\.steps).contains { $0.name.hasPrefix("reuse the warm set") })
            #expect(try ops.lastRecord().result == .rolledBack, "a git revert is recorded as a rollback")
            for _ in 0..<5 { #expect(fetch(port)?.body == "web 1.0.0\n") }
        }
    }

    @Test("the warm set is stopped once keepPrevious has passed")
    func warmSetExpires() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            let strategy = "blueGreen: { keepPrevious: 1s }"
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port, strategy: strategy))
            #expect(try ops.slipway(["apply"]).status == 0)
            let blue = ops.instances("production")
            try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", listen: port, strategy: strategy))
            #expect(try ops.slipway(["apply"]).status == 0)
            #expect(blue.allSatisfy { $0.isRunning })
            let deadline = ContinuousClock.now + .seconds(10)
            while ops.instances("production").contains(where: { $0.warmUntil.map { $0 > Date() } ?? false }), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))  // polling the warm deadline recorded in the registry
            }
            #expect(try ops.slipway(["apply"]).stdout.contains("production: up to date"))
            #expect(blue.allSatisfy { !$0.isRunning }, "the warm set outlived keepPrevious")
            #expect(ops.instances("production").count == 2)
            #expect(fetch(port)?.body == "web 2.0.0\n")
        }
    }
}

@Suite("Blue-green preview and approval", .serialized)
struct BlueGreenApprovalTests {
    @Test("autoPromote: false shows the new set on the preview address and switches only after slipway approve")
    func approval() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free(), preview = try Ports.free()
            let strategy = "blueGreen: { keepPrevious: 1m, preview: \"127.0.0.1:\(preview)\", autoPromote: false, approvalTimeout: 60s }"
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
            #expect(try ops.slipway(["apply"]).status == 0)
            try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", listen: port, strategy: strategy))

            let apply = Background(ops, ["apply"])
            let deadline = ContinuousClock.now + .seconds(30)
            while fetch(preview)?.body != "web 2.0.0\n", ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))  // polling the preview address until the new set answers there
            }
            #expect(fetch(preview)?.body == "web 2.0.0\n")
            #expect(fetch(port)?.body == "web 1.0.0\n", "nothing switched before the approval")

            let approved = try ops.slipway(["approve", "production", "--by", "Alex Approver <alex@example.com>"])
            #expect(approved.status == 0, "\(approved.output)")
            let result = apply.wait()
            #expect(result?.status == 0, "\(result?.output ?? "no result")")
            #expect(fetch(port)?.body == "web 2.0.0\n")
            #expect(fetch(preview)?.status == 503, "the preview is empty after the switch")
            let log = try ops.git(["log", "--format=%an: %s"])
            #expect(log.contains("Alex Approver: approve(production): web 2.0.0"), "\(log)")
            let record = try ops.git(["log", "-1", "-p"])
            #expect(record.contains("approved by Alex Approver <alex@example.com>"))
        }
    }

    @Test("without an approval the switch times out: nothing switched, the new set removed, the record failed")
    func approvalTimeout() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
            #expect(try ops.slipway(["apply"]).status == 0)
            try ops.commit("Environments/production.yaml", testManifest(
                version: "2.0.0", listen: port, strategy: "blueGreen: { autoPromote: false, approvalTimeout: 1s }"))
            let result = try ops.slipway(["apply"])
            #expect(result.status == 1)
            #expect(result.stderr.contains("approval timed out after 1s: nothing was switched"), "\(result.stderr)")
            #expect(ops.instances("production").allSatisfy { $0.version == "1.0.0" })
            #expect(fetch(port)?.body == "web 1.0.0\n")
        }
    }
}
