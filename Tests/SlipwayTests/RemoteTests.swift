import Foundation
import Testing
@testable import SlipwayRecords
@testable import SlipwayRuntime

@Suite("slipway watch --remote", .serialized)
struct RemoteTests {
    @Test("remote mode: deploys what is pushed, pushes records back; a person's push during a run is kept, nothing is forced")
    func remoteMode() async throws {
        try await OpsRepoFixture.with(bare: true) { ops in
            let port = try Ports.free()
            let remote = ops.repo.path, clone = ops.root.appendingPathComponent("slipway/ops.git")
            defer { _ = try? Command.slipway(["down", "--repo", clone.path]) }
            try ops.git(["config", "core.logAllRefUpdates", "always"])  // a reflog on the remote, to look for forced updates
            let records = { try ops.git(["log", "--format=%H", "--grep", "Slipway-Result:", "main"]).split(separator: "\n").count }
            /// A person's change: pull, commit, push — as at a console.
            func personCommits(_ path: String, _ content: String) throws -> String {
                try Command.git(["pull", "--quiet", "--rebase", "origin", "main"], in: ops.workTree)
                return try ops.commit(path, content)
            }
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))

            try await DaemonProcess.with(ops, poll: "200ms", arguments: ["--remote", remote, "--repo", clone.path]) { daemon in
                #expect(try await eventually(within: 30) { try records() == 1 }, "\(daemon.output)")
                #expect(fetch(port)?.body == "web 1.0.0\n")

                try personCommits("Environments/production.yaml", testManifest(version: "2.0.0", listen: port))
                let registry = InstanceRegistry(file: clone.appendingPathComponent("slipway/envs/production/instances.json"))
                #expect(await eventually(within: 30) { registry.load().contains { $0.version == "2.0.0" } }, "\(daemon.output)")
                // The run is in flight: Slipway fetched before it and pushes after it. A person pushes in between.
                let note = try personCommits("NOTES.md", "deploy window: Tuesday\n")
                #expect(try await eventually(within: 30) { try records() == 2 }, "\(daemon.output)")
                #expect(daemon.output.contains("push refused"), "the push after the run met the person's commit: \(daemon.output)")

                let tip = try ops.git(["rev-parse", "main"]).trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(try ops.git(["merge-base", "--is-ancestor", note, tip]).isEmpty, "the person's commit is in the history")
                #expect(try ops.git(["show", "main:NOTES.md"]) == "deploy window: Tuesday\n")
                #expect(try ops.git(["log", "-1", "--format=%s", "main"]).hasPrefix("deploy(production): web 1.0.0 → 2.0.0 succeeded"))
                #expect(fetch(port)?.body == "web 2.0.0\n")
            }
            // Every update of the remote's branch was a fast-forward of the one before.
            let values = try ops.git(["reflog", "show", "--format=%H", "refs/heads/main"]).split(separator: "\n").map(String.init).reversed()
            #expect(values.count >= 5)
            for (older, newer) in zip(values, values.dropFirst()) {
                #expect((try? ops.git(["merge-base", "--is-ancestor", older, newer])) != nil, "\(older) → \(newer) is not a fast-forward")
            }
        }
    }
}
