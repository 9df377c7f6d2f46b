import Foundation
import Testing
@testable import SlipwayGit
@testable import SlipwayRecords
@testable import SlipwayHost
import SlipwayCore

/// What someone with push access (and no signing key) can put under `Deployments/`, `Status/`
/// and `Templates/`, against what Slipway does with it: records are never replaced or lost, no
/// input crashes or stalls history, nothing is written outside the repository, and nothing is
/// deployed that could not be recorded. Real repositories, the real binary, real instances.
@Suite("records under attack", .serialized)
struct RecordAttackTests {
    static let qa = "Environments/qa.yaml"

    /// Deploys `version` of the `qa` environment (one instance) and returns the record's path.
    @discardableResult
    func deploy(_ ops: OpsRepoFixture, _ version: String, port: Int) throws -> String {
        try ops.commit(Self.qa, testManifest(version: version, replicas: 1, listen: port), message: "Release \(version)")
        let apply = try ops.slipway(["apply"])
        #expect(apply.status == 0, "\(apply.output)")
        return try ops.lastRecordPath()
    }

    func blob(_ ops: OpsRepoFixture, _ path: String) -> String? {
        (try? ops.git(["rev-parse", "HEAD:\(path)"]))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("a record is never replaced by a misplaced copy of its name, and copies or a folder in the way never stop the next record")
    func misplacedCopies() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            let path = try deploy(ops, "1.0.0", port: port)
            let real = blob(ops, path), name = String(path.split(separator: "/").last ?? "")
            let forged = try ops.writeBlob("---\nversion: 6.6.6\n---\nforged\n")
            try ops.graft(.init(mode: "100644", name: name, id: forged), into: "Deployments/qa/junk")
            let other = "20250101T000000Z-abcdef1_1.0_2.0_succeeded.md"
            try ops.graft(.init(mode: "100644", name: other, id: forged), into: "Deployments/qa/a")
            try ops.graft(.init(mode: "100644", name: other, id: forged), into: "Deployments/qa/b")
            try ops.graft(.init(mode: "100644", name: "x", id: forged), into: "Deployments/qa/2025-01/01/\(other)")

            try deploy(ops, "1.1.0", port: port)
            #expect(try ops.lastRecord().version == "1.1.0", "the record was committed")
            #expect(blob(ops, path) == real, "the real record is untouched")
            #expect(blob(ops, "Deployments/qa/junk/\(name)") == forged, "the copy stays where it was put")
            #expect(blob(ops, "Deployments/qa/2025-01/01/\(other)/x") == forged)
            let moved = try ops.git(["log", "--format=%s", "--name-only", "--grep", "^records(qa)"])
            #expect(!moved.contains(name), "\(moved)")
        }
    }

    @Test("a symbolic link where Slipway keeps a folder (Status, Deployments) refuses the run before anything starts", arguments: ["Status", "Deployments"])
    func fileInTheWay(folder: String) async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try deploy(ops, "1.0.0", port: port)
            let running = ops.instances("qa").map(\.id)
            try ops.graft(.init(mode: "120000", name: folder, id: try ops.writeBlob("/etc")), into: "")
            try ops.commit(Self.qa, testManifest(version: "2.0.0", replicas: 1, listen: port))
            let apply = try ops.slipway(["apply"])
            #expect(apply.status == 1 && apply.stderr.contains("\(folder) is a file in the ops repo"), "\(apply.output)")
            #expect(ops.instances("qa").map(\.id) == running, "nothing was deployed")
            #expect(fetch(port)?.body == "web 1.0.0\n")
            #expect(try ops.slipway(["status"]).stdout.contains("qa: web 1.0.0"), "status still knows what runs")
        }
    }

    @Test("a tree 10,000 levels deep and a tree that names one subtree ten times a level, nine levels deep, neither crash nor stall history or apply")
    func hostileTrees() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try deploy(ops, "1.0.0", port: port)
            try ops.commit(Self.qa, testManifest(version: "1.1.0", replicas: 1, listen: port), message: "Release 1.1.0")
            var level = try ops.writeTree([.init(mode: "100644", name: "20250101T000000Z-abcdef2.md", id: try ops.writeBlob("x"))])
            for _ in 0..<9 { level = try ops.writeTree((0..<10).map { .init(mode: "040000", name: "e\($0)", id: level) }) }
            try ops.graft(.init(mode: "040000", name: "bomb", id: level), into: "Deployments/qa", updateIndex: false)  // a billion index entries
            // Last: git's own index cannot take a path this long in reasonable time, so nothing commits after it but Slipway.
            let deep = "Deployments/qa/" + String(repeating: "d/", count: 10_000) + "20250101T000000Z-abcdef1.md"
            let stream = "commit refs/heads/main\ncommitter A <a@example.com> 1700000000 +0000\ndata 4\ndeep\nfrom refs/heads/main^0\n"
                + "M 100644 inline \(deep)\ndata 4\nx: 1\n\n"
            try Command.git(["fast-import", "--quiet"], in: ops.workTree, input: Data(stream.utf8))

            let history = try Command.run(Command.slipway, ["history", "qa", "--repo", ops.repo.path], timeout: .seconds(30))
            #expect(history.status == 0 && history.stdout.contains("web none → 1.0.0"), "\(history.output)")
            let apply = try Command.run(Command.slipway, ["apply", "--repo", ops.repo.path], timeout: .seconds(60))
            #expect(apply.status == 0, "\(apply.output)")
            #expect(try ops.lastRecord().version == "1.1.0")
        }
    }

    @Test("tree entries named like paths (../, ., with /) are passed over: nothing outside the repository is touched, no empty commits")
    func pathNames() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try deploy(ops, "1.0.0", port: port)
            let victim = ops.root.appendingPathComponent("victim")
            try FileManager.default.createDirectory(at: victim, withIntermediateDirectories: true)
            try Data("keep".utf8).write(to: victim.appendingPathComponent("20250101T000000Z-abcdef1.md"))
            let crafted = try ops.writeTree([
                .init(mode: "100644", name: "../../../victim/20250101T000000Z-abcdef1.md", id: try ops.writeBlob("---\nversion: 1\n---\n")),
                .init(mode: "040000", name: "..", id: try ops.writeTree([.init(mode: "100644", name: "20250101T000000Z-abcdef3.md", id: try ops.writeBlob("y"))])),
            ])
            try ops.graft(.init(mode: "040000", name: "junk", id: crafted), into: "Deployments/qa")
            let before = try ops.git(["rev-list", "--count", "HEAD"])
            try deploy(ops, "1.1.0", port: port)
            #expect(FileManager.default.fileExists(atPath: victim.appendingPathComponent("20250101T000000Z-abcdef1.md").path))
            #expect((Int(try ops.git(["rev-list", "--count", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0)
                == (Int(before.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) + 2, "the release and its record, nothing else")
        }
    }

    @Test("history lists records only: other files neither show nor count for --limit; no control character reaches the terminal; -2 ids keep their order")
    func historyListsRecords() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try deploy(ops, "1.0.0", port: port)
            let path = try deploy(ops, "1.1.0", port: port)
            let day = path.split(separator: "/").dropLast().joined(separator: "/")
            let note = try ops.writeBlob("notes\n")
            let record = try ops.writeBlob("---\nservice: web\n---\n")
            try ops.graft(.init(mode: "100644", name: "zz-notes.md", id: note), into: day)
            try ops.graft(.init(mode: "100644", name: "README.md", id: note), into: "Deployments/qa")
            try ops.graft(.init(mode: "100644", name: "20250101T000000Z-abcdef1_postmortem.pdf", id: note), into: "Deployments/qa")
            try ops.graft(.init(mode: "100644", name: "20250102T000000Z-abcdef1_1.0_\u{1B}[31mred_succeeded.md", id: note), into: "Deployments/qa/2025-01/02")
            try ops.graft(.init(mode: "100644", name: "20300101T000000.000Z-abcdef1_1_2_succeeded.md", id: record), into: "Deployments/qa/2030-01/01")
            try ops.graft(.init(mode: "100644", name: "20300101T000000.000Z-abcdef1-2_2_3_succeeded.md", id: record), into: "Deployments/qa/2030-01/01")

            let limited = try ops.slipway(["history", "--limit", "1"])
            #expect(limited.stdout.contains("20300101T000000.000Z-abcdef1-2"), "\(limited.output)")
            let all = try ops.slipway(["history"])
            #expect(all.stdout.split(separator: "\n").first?.contains("abcdef1-2") == true, "\(all.stdout)")
            #expect(all.stdout.split(separator: "\n").count == 4, "two releases and the two 2030 records: \(all.stdout)")
            #expect(!all.stdout.contains("\u{1B}") && !all.stdout.contains("postmortem"), "\(all.stdout)")
            #expect(all.stdout.contains("qa  web 1.0.0 → 1.1.0"), "the service from the newest record, not a note: \(all.stdout)")

            try deploy(ops, "1.2.0", port: port)
            #expect(blob(ops, "Deployments/qa/20250101T000000Z-abcdef1_postmortem.pdf") == note, "not a record: not moved")
            #expect(blob(ops, "\(day)/zz-notes.md") == note)
        }
    }

    @Test("show: one record per environment, ids matched exactly, not found is exit status 1")
    func show() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            let path = try deploy(ops, "1.0.0", port: port)
            let name = String(path.split(separator: "/").last ?? ""), id = String(name.prefix { $0 != "_" })
            try ops.graft(.init(mode: "100644", name: name, id: try ops.writeBlob("copy")), into: "Deployments/qa/junk")
            let shown = try ops.slipway(["show", id])
            #expect(shown.status == 0 && shown.stdout.hasPrefix(path), "the record in its day folder: \(shown.output)")
            let other = String(id.dropLast()) + (id.last == "0" ? "1" : "0")
            let missing = try ops.slipway(["show", other])
            #expect(missing.status == 1 && missing.stderr.contains("no record of deployment"), "\(missing.output)")
        }
    }

    @Test("a template of the ops repo shapes the body only; one that does not parse leaves the built-in one in place")
    func templates() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Templates/record.md.mustache", "---\nversion: 6.6.6\nresult: succeeded\n---\n# forged body of {{{version}}}\n")
            try deploy(ops, "1.0.0", port: port)
            let text = try ops.git(["show", "HEAD:\(try ops.lastRecordPath())"])
            #expect(try ops.lastRecord().version == "1.0.0", "the front matter is Slipway's")
            #expect(text.contains("# forged body of 1.0.0") && text.hasPrefix("---\ndeployment: "), "\(text)")
            try ops.commit("Templates/record.md.mustache", "{{#broken}} never closed")
            try deploy(ops, "1.1.0", port: port)
            #expect(try ops.git(["show", "HEAD:\(try ops.lastRecordPath())"]).contains("# qa: web 1.0.0 → 1.1.0 succeeded"))
        }
    }

    @Test("a status file in git decides nothing once this machine has its own copy; without one, an unreadable file stops its own environment only")
    func unreadableStatus() async throws {
        try await OpsRepoFixture.with { ops in
            let qaPort = try Ports.free(), prodPort = try Ports.free()
            try deploy(ops, "1.0.0", port: qaPort)
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 1, listen: prodPort))
            #expect(try ops.slipway(["apply"]).status == 0)
            try ops.commit("Status/qa.md", "---\nenvironment: [unclosed\n---\n")
            try ops.commit(Self.qa, testManifest(version: "2.0.0", replicas: 1, listen: qaPort))
            #expect(try ops.slipway(["apply"]).status == 0, "decided from its own copy")
            #expect(fetch(qaPort)?.body == "web 2.0.0\n")

            // A machine without its own copy (moved, or its state lost) reads the file, and stops at it for qa alone.
            for file in ["status.json", "committed.json"] {
                try FileManager.default.removeItem(at: ops.stateDirectory.appendingPathComponent("envs/qa/\(file)"))
            }
            try ops.commit("Status/qa.md", "---\nenvironment: [unclosed\n---\n")
            try ops.commit(Self.qa, testManifest(version: "3.0.0", replicas: 1, listen: qaPort))
            try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", replicas: 1, listen: prodPort))
            let apply = try ops.slipway(["apply"])
            #expect(apply.status == 1 && apply.output.contains("qa: not deployed — Status/qa.md"), "\(apply.output)")
            #expect(fetch(prodPort)?.body == "web 2.0.0\n" && fetch(qaPort)?.body == "web 2.0.0\n")
            let status = try ops.slipway(["status"])
            #expect(status.stdout.contains("production: web 2.0.0") && status.stdout.contains("qa: Status/qa.md"), "\(status.output)")
        }
    }

    @Test("a removal that only holds while the file is unchanged keeps a file changed meanwhile; a commit that changes nothing is not made")
    func conditionalRemoval() async throws {
        try await OpsRepoFixture.with { ops in
            try ops.commit("a.md", "one")
            let old = try #require(blob(ops, "a.md"))
            try ops.commit("a.md", "two")
            let git = try GitRepository(path: ops.repo.path)
            let tip = try await git.resolve(ref: "refs/heads/main")
            let kept = try await git.commit(changes: [.removeIfUnchanged("a.md", try #require(ObjectID(hex: old)))],
                                            message: "archive\n", author: Signature(name: "S", email: "s@example.com"), onto: "refs/heads/main")
            #expect(kept == tip && blob(ops, "a.md") != nil, "nothing to do: no commit, the changed file stays")
            let current = try #require(blob(ops, "a.md").flatMap(ObjectID.init(hex:)))
            _ = try await git.commit(changes: [.removeIfUnchanged("a.md", current)], message: "archive\n",
                                     author: Signature(name: "S", email: "s@example.com"), onto: "refs/heads/main")
            #expect(blob(ops, "a.md") == nil)
        }
    }
}
