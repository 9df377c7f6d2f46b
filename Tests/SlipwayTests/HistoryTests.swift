import Foundation
import Testing
@testable import SlipwayEngine
@testable import SlipwayRecords
@testable import SlipwayHost

/// History as people use it: real deployments with the real binary, then what people do to
/// an ops repo with ordinary git (remove a record, keep records of an older layout, archive).
@Suite("history, show and archive", .serialized)
struct HistoryTests {
    struct Row: Decodable, Equatable {
        let deployment: String, environment: String, version: String, previousVersion: String?, result: String
        let record: String?, source: String
    }

    func history(_ ops: OpsRepoFixture, _ arguments: [String] = []) throws -> [Row] {
        let result = try ops.slipway(["history", "--json"] + arguments)
        #expect(result.status == 0, "\(result.output)")
        return try JSONDecoder().decode([Row].self, from: Data(result.stdout.utf8))
    }

    /// Commits `count` releases of one instance and deploys each with `slipway apply`.
    func deploy(_ ops: OpsRepoFixture, versions: [String], port: Int, replicas: Int = 1) throws {
        for version in versions {
            try ops.commit("Environments/production.yaml", testManifest(version: version, replicas: replicas, listen: port), message: "Release \(version)")
            let apply = try ops.slipway(["apply"])
            #expect(apply.status == 0, "\(apply.output)")
        }
    }

    @Test("a plain rolling update's record is at most 40 lines and 1.5 KB, with nothing machine-local in it")
    func recordSize() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try deploy(ops, versions: ["1.0.0", "1.1.0"], port: port, replicas: 3)
            let text = try ops.git(["show", "HEAD:\(try ops.lastRecordPath())"])
            #expect(text.split(separator: "\n", omittingEmptySubsequences: false).count <= 41, "\(text)")  // 40 lines and the final newline
            #expect(text.utf8.count <= 1536, "\(text.utf8.count) bytes:\n\(text)")
            let pids = Set(ops.instances("production").map { "\($0.process.pid)" })
            let ports = Set(ops.instances("production").map { "\($0.port)" })
            #expect(!pids.contains { text.contains($0) } && !ports.contains { text.contains(":\($0)") }, "\(text)")
            #expect(!text.contains(Command.productsDirectory.path), "no build path")
            #expect(text.hasPrefix("---\ndeployment: ") && text.contains("\n# production: web 1.0.0 → 1.1.0 succeeded\n"))
        }
    }

    @Test("history lists the records of the tree newest first; a record removed by hand is found by --all from its commit; show prints one")
    func removedByHand() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try deploy(ops, versions: ["1.0.0", "1.1.0"], port: port)
            let rows = try history(ops)
            #expect(rows.map(\.version) == ["1.1.0", "1.0.0"] && rows.map(\.previousVersion) == ["1.0.0", nil])
            #expect(rows.allSatisfy { $0.source == "tip" && $0.result == "succeeded" })
            let text = try ops.slipway(["history"])
            #expect(text.stdout.contains("production  web 1.0.0 → 1.1.0  succeeded  \(rows[0].deployment)"), "\(text.output)")

            let first = try #require(rows.last?.record)
            try Command.git(["rm", "--quiet", first], in: ops.workTree)
            try Command.git(["commit", "--quiet", "-m", "Remove a record"], in: ops.workTree)
            #expect(try history(ops).map(\.deployment) == [rows[0].deployment])
            let all = try history(ops, ["--all"])
            #expect(all.map(\.deployment) == rows.map(\.deployment) && all.map(\.source) == ["tip", "log"])
            #expect(all.last?.version == "1.0.0" && all.last?.record == first)

            let shown = try ops.slipway(["show", rows[1].deployment])
            #expect(shown.status == 0 && shown.stdout.contains("# production: web none → 1.0.0 succeeded"), "\(shown.output)")
            #expect(shown.stdout.contains("file removed; from its commit") && !shown.stdout.contains("\ndeployment: "), "\(shown.output)")
            let json = try ops.slipway(["show", rows[0].deployment, "--json"])
            #expect(json.status == 0 && json.stdout.contains("\"version\" : \"1.1.0\""), "\(json.output)")
            let missing = try ops.slipway(["show", "20200101T000000Z-0000000"])
            #expect(missing.status != 0 && missing.stderr.contains("no record of deployment"), "\(missing.output)")
        }
    }

    /// Records as the release before the day layout wrote them: block-style front matter, a
    /// month folder, `<deployment>.md`.
    static func oldRecord(_ deployment: String, version: String, previous: String, result: String) -> String {
        """
        ---
        deployment: \(deployment)
        environment: production
        service: web
        version: '\(version)'
        previousVersion: \(previous)
        result: \(result)
        strategy: rolling
        trigger: \(deployment.split(separator: "-")[1])000000000000000000000000000000000
        phases:
        - name: pre-flight
          outcome: passed
          milliseconds: 12
          steps: []
        ---
        # production: web \(previous) → \(version) — \(result)

        """
    }

    @Test("records of the month layout (and any record out of place) move into day folders in one commit, same content, none lost; history reads both layouts")
    func migration() async throws {
        try await OpsRepoFixture.with { ops in
            let old = [("20250301T101500Z-abcdef1", "0.9", "0.8.0", "succeeded"), ("20250302T101500Z-abcdef2", "0.10", "0.9", "rolled-back"),
                       ("20250302T111500Z-abcdef3", "0.10_b", "0.9", "failed")]
            for (id, version, previous, result) in old {
                try ops.commit("Deployments/production/\(id.prefix(4))/\(id.dropFirst(4).prefix(2))/\(id).md",
                               Self.oldRecord(id, version: version, previous: previous, result: result), message: "A record of the old layout")
            }
            // Not a record: left where it is.
            try ops.commit("Deployments/production/README.md", "Notes on production's records\n", message: "Notes")
            let before = try history(ops)
            #expect(before.map(\.version) == ["0.10_b", "0.10", "0.9"] && before.map(\.result) == ["failed", "rolled-back", "succeeded"])
            let blobs = try Set(old.map { id, _, _, _ in
                try ops.git(["rev-parse", "HEAD:Deployments/production/\(id.prefix(4))/\(id.dropFirst(4).prefix(2))/\(id).md"]).trimmingCharacters(in: .whitespacesAndNewlines)
            })

            try deploy(ops, versions: ["1.0.0"], port: try Ports.free())
            var files = try ops.git(["ls-tree", "-r", "--name-only", "HEAD", "Deployments"]).split(separator: "\n").map(String.init)
            #expect(files.contains("Deployments/production/README.md"))
            files.removeAll { $0.hasSuffix("README.md") }
            #expect(files.count == 4, "\(files)")
            #expect(files.allSatisfy { $0.split(separator: "/").count == 5 }, "every record in a day folder: \(files)")
            #expect(files.contains("Deployments/production/2025-03/02/20250302T101500Z-abcdef2_0.9_0.10_rolled-back.md"))
            let moved = try ops.git(["log", "-1", "--skip=1", "--format=%s", "--name-status", "-M"])
            #expect(moved.hasPrefix("records(production): move 3 record(s) into day folders"), "\(moved)")
            #expect(moved.split(separator: "\n").filter { $0.hasPrefix("R100") }.count == 3, "renamed, content unchanged: \(moved)")
            let after = try Set(files.map { try ops.git(["rev-parse", "HEAD:\($0)"]).trimmingCharacters(in: .whitespacesAndNewlines) })
            #expect(blobs.isSubset(of: after))
            #expect(try history(ops).map(\.deployment) == [try history(ops)[0].deployment] + before.map(\.deployment))
            #expect(try ops.git(["status", "--porcelain"]).isEmpty)
        }
    }

    @Test("archive moves old records to slipway-archive: the tip loses them, history --all and show still find them, git status stays clean")
    func archive() async throws {
        try await OpsRepoFixture.with { ops in
            let old = [("20250301T101500Z-abcdef1", "0.9", "0.8.0", "succeeded"), ("20250401T101500Z-abcdef2", "0.10", "0.9", "succeeded")]
            for (id, version, previous, result) in old {
                try ops.commit("Deployments/production/\(id.prefix(4))-\(id.dropFirst(4).prefix(2))/\(id.dropFirst(6).prefix(2))/\(id)_\(previous)_\(version)_\(result).md",
                               Self.oldRecord(id, version: version, previous: previous, result: result), message: "A record")
            }
            try deploy(ops, versions: ["1.0.0"], port: try Ports.free())
            let everything = try history(ops)
            #expect(everything.count == 3)

            let dry = try ops.slipway(["archive", "--before", "2025-04-01", "--dry-run"])
            #expect(dry.stdout.contains("1 record(s) would move"), "\(dry.output)")
            let archived = try ops.slipway(["archive", "--before", "2026-01-01"])
            #expect(archived.status == 0 && archived.stdout.contains("2 record(s) moved to slipway-archive"), "\(archived.output)")
            #expect(try history(ops).map(\.deployment) == [everything[0].deployment])
            let all = try history(ops, ["--all"])
            #expect(all.map(\.deployment) == everything.map(\.deployment) && all.map(\.source) == ["tip", "archive", "archive"])
            let kept = try ops.git(["ls-tree", "-r", "--name-only", "slipway-archive"]).split(separator: "\n")
            #expect(kept.count == 2 && kept.allSatisfy { $0.hasPrefix("Deployments/production/2025-0") })
            #expect(!FileManager.default.fileExists(atPath: ops.workTree.appendingPathComponent("Deployments/production/2025-03").path))
            #expect(try ops.git(["status", "--porcelain"]).isEmpty)
            let shown = try ops.slipway(["show", "20250401T101500Z-abcdef2"])
            #expect(shown.status == 0 && shown.stdout.contains("(archived)"), "\(shown.output)")
            #expect(try ops.slipway(["archive", "--before", "2026-01-01"]).stdout.contains("no records of deployments before"))
        }
    }
}
