import Foundation
import Testing
@testable import SlipwayHost
#if canImport(Glibc)
import Glibc
#endif

/// The commands people watch a deployment with: `logs [-f]`, `status --watch`, and `--json`
/// on the commands that print data.
@Suite("slipway logs, status --watch, --json", .serialized)
struct ObserveCommandTests {
    /// Runs `slipway arguments` in the background until `condition` holds on its output (or
    /// `seconds` pass), then stops it; returns the output.
    func background(_ ops: OpsRepoFixture, _ arguments: [String], within seconds: Double = 20, until condition: (String) -> Bool) async throws -> String {
        let log = ops.root.appendingPathComponent("cli-\(UUID().uuidString.prefix(6)).out")
        let pid = try Command.background([Command.slipway.path] + arguments + ["--repo", ops.repo.path], log: log)
        defer {
            kill(pid, SIGKILL)
            waitpid(pid, nil, 0)
        }
        var output = ""
        _ = await eventually(within: seconds) {
            output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            return condition(output)
        }
        return output
    }

    @Test("logs prints each running instance's last lines, follows new ones with -f, refuses an id that is a path, and speaks JSON")
    func logs() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
            #expect(try ops.slipway(["apply"]).status == 0)
            let ids = ops.instances("production").map(\.id)
            let printed = try ops.slipway(["logs", "production", "-n", "3"])
            #expect(printed.status == 0, "\(printed.output)")
            for id in ids { #expect(printed.stdout.contains("\(id) | "), "\(printed.stdout)") }
            let json = try ops.slipway(["logs", "production", "--instance", ids[0], "--json"])
            #expect(json.stdout.split(separator: "\n").allSatisfy { $0.hasPrefix(#"{"instance":""#) && $0.contains(#""line":"#) }, "\(json.stdout)")
            #expect(try ops.slipway(["logs", "production", "--instance", "../../../../etc/passwd"]).status == 2)
            #expect(try ops.slipway(["logs", "production", "--instance", "web-00000000"]).status == 1)
            // -f: a line an instance writes now appears.
            let marker = "written-after-start-\(UUID().uuidString.prefix(6))"
            let file = ops.stateDirectory.appendingPathComponent("envs/production/logs/\(ids[0]).log")
            var written = false
            let followed = try await background(ops, ["logs", "production", "-f", "-n", "0"], within: 60) { output in
                // Once it says it follows (a loaded machine may take a while to start it), the instance writes a line.
                if !written, output.contains("following 2 log(s) of production"), let handle = try? FileHandle(forWritingTo: file) {
                    _ = try? handle.seekToEnd()
                    try? handle.write(contentsOf: Data("\(marker)\n".utf8))
                    try? handle.close()
                    written = true
                }
                return output.contains(marker)
            }
            #expect(followed.contains("\(ids[0]) | \(marker)"), "\(followed)")
        }
    }

    @Test("status --watch draws again every second; validate and apply --json print one document")
    func watchAndJSON() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
            let applied = try ops.slipway(["apply", "--json"])
            #expect(applied.status == 0, "\(applied.output)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(applied.stdout.utf8)) as? [String: Any])
            let outcome = try #require((report["outcomes"] as? [[String: Any]])?.first)
            #expect(outcome["environment"] as? String == "production" && outcome["result"] as? String == "succeeded")
            #expect((outcome["record"] as? String)?.hasPrefix("Deployments/production/") == true)
            let validated = try ops.slipway(["validate", "--json"])
            #expect(validated.status == 0 && validated.stdout.contains(#""valid" : ["#), "\(validated.output)")
            let frames = try await background(ops, ["status", "--watch"]) { $0.components(separatedBy: "slipway status — ").count >= 3 }
            #expect(frames.components(separatedBy: "slipway status — ").count >= 3, "\(frames)")
            #expect(frames.contains("production: web 1.0.0"), "\(frames)")
        }
    }
}
