import Foundation
import Testing
@testable import SlipwayRecords
@testable import SlipwayRuntime

@Suite("Blue-green", .serialized)
struct BlueGreenTests {
    func record(_ ops: OpsRepoFixture) throws -> DeploymentRecord {
        let path = try ops.git(["show", "--name-only", "--format=", "HEAD"]).split(separator: "\n").first { $0.hasPrefix("Deployments/") } ?? ""
        return try RecordTemplates.parseRecord(try ops.git(["show", "HEAD:\(path)"]))
    }

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
            let steps = try record(ops).phases.flatMap(\.steps).map(\.name)
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
            #expect(try record(ops).phases.flatMap(\.steps).contains { $0.name.hasPrefix("reuse the warm set") })
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
