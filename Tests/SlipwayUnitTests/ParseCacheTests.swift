import Foundation
import Testing
@testable import SlipwayEngine
@testable import SlipwayManifest
import SlipwayCore

/// What a plan reads and parses: a manifest or status file that did not change since the last
/// look is taken from the repository's cache, with the same result (a real git repository).
@Suite("parse cache by blob")
struct ParseCacheTests {
    static func git(_ folder: URL, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        process.arguments = ["-C", folder.path, "-c", "user.name=T", "-c", "user.email=t@example.com"] + arguments
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "git \(arguments)")
    }

    static func manifest(_ name: String, version: String, port: Int, upstream: String? = nil) -> String {
        """
        service: \(name)
        version: "\(version)"
        \(upstream.map { "upstream: \($0)" } ?? "")
        run: { command: ["web", "--port", "{port}"] }
        traffic: { listen: "127.0.0.1:\(port)" }

        """
    }

    /// An empty git repository with an Environments/ folder, in a temporary folder the caller removes.
    static func newRepository() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-cache-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("Environments"), withIntermediateDirectories: true)
        try git(folder, ["init", "-q", "--initial-branch=main"])
        return folder
    }

    @Test("a second look at an unchanged tree parses nothing; a commit changing one manifest parses that one; problems across files keep their place")
    func manifests() async throws {
        let folder = try Self.newRepository()
        defer { try? FileManager.default.removeItem(at: folder) }
        for (index, name) in ["a", "b", "c"].enumerated() {
            try Self.manifest(name, version: "1", port: 9000 + index).write(to: folder.appendingPathComponent("Environments/\(name).yaml"), atomically: true, encoding: .utf8)
        }
        try Self.git(folder, ["add", "-A"])
        try Self.git(folder, ["commit", "-q", "-m", "three"])
        let repository = try await OpsRepository.open(path: folder.path, branch: "main")

        let first = try await repository.desired(at: try await repository.tip())
        #expect(first.environments.manifests.count == 3 && repository.cache.parsed.withLock { $0.manifests } == 3)
        let again = try await repository.desired(at: try await repository.tip())
        #expect(again.environments.manifests == first.environments.manifests && repository.cache.parsed.withLock { $0.manifests } == 3,
                "nothing parsed again")

        // b moves onto a's address, c names an upstream that does not exist.
        try Self.manifest("b", version: "2", port: 9000).write(to: folder.appendingPathComponent("Environments/b.yaml"), atomically: true, encoding: .utf8)
        try Self.manifest("c", version: "1", port: 9002, upstream: "nowhere").write(to: folder.appendingPathComponent("Environments/c.yaml"), atomically: true, encoding: .utf8)
        try Self.git(folder, ["commit", "-q", "-am", "two changed"])
        let changed = try await repository.desired(at: try await repository.tip())
        #expect(repository.cache.parsed.withLock { $0.manifests } == 5, "only the two changed files")
        #expect(changed.environments.diagnostics.map(\.description) == [
            "Environments/a.yaml:5:20: traffic.listen 127.0.0.1:9000 is also Environments/b.yaml's traffic.listen 127.0.0.1:9000: an address belongs to one environment",
            "Environments/b.yaml:5:20: traffic.listen 127.0.0.1:9000 is also Environments/a.yaml's traffic.listen 127.0.0.1:9000: an address belongs to one environment",
            #"Environments/c.yaml:3:11: upstream "nowhere" has no manifest Environments/nowhere.yaml"#,
        ], "\(changed.environments.diagnostics)")
        #expect(changed.environments.manifests.isEmpty)

        try FileManager.default.createDirectory(at: folder.appendingPathComponent("Status"), withIntermediateDirectories: true)
        try "---\nenvironment: a\nservice: a\nversion: \"1\"\ninstances: {}\nlastResult: succeeded\nlastDeployment: 20261126T000000.000Z-abcdef0\n---\n"
            .write(to: folder.appendingPathComponent("Status/a.md"), atomically: true, encoding: .utf8)
        try Self.git(folder, ["add", "-A"])
        try Self.git(folder, ["commit", "-q", "-m", "status"])
        let blob = try #require(try await repository.statusBlobs(at: try await repository.tip())["a"])
        let status = try await repository.status(of: "a", blob: blob)
        #expect(try await repository.status(of: "a", blob: blob) == status && status.version == "1")
        #expect(repository.cache.parsed.withLock { $0.statuses } == 1, "a status file is parsed once per blob")
    }

    @Test("a commit that changes, adds and deletes manifests among many gives the desired state a fresh look gives, parsing only the new files")
    func updatedDesiredState() async throws {
        let folder = try Self.newRepository()
        defer { try? FileManager.default.removeItem(at: folder) }
        func write(_ name: String, version: String, port: Int, upstream: String? = nil) throws {
            try Self.manifest(name, version: version, port: port, upstream: upstream).write(to: folder.appendingPathComponent("Environments/\(name).yaml"), atomically: true, encoding: .utf8)
        }
        for index in 0..<40 { try write("env-\(index)", version: "1", port: 9100 + index) }
        try write("staging", version: "1", port: 9090)
        try write("production", version: "1", port: 9091, upstream: "staging")
        try Self.git(folder, ["add", "-A"])
        try Self.git(folder, ["commit", "-q", "-m", "42"])
        let repository = try await OpsRepository.open(path: folder.path, branch: "main")
        _ = try await repository.desired(at: try await repository.tip())

        let changes: [() throws -> Void] = [
            { try write("env-3", version: "2", port: 9103) },                                     // a new version
            { try write("env-4", version: "2", port: 9200); try write("env-41", version: "1", port: 9141) },  // a new address, a new environment
            { try FileManager.default.removeItem(at: folder.appendingPathComponent("Environments/env-5.yaml")) },
            { try write("env-6", version: "2", port: 9106, upstream: "staging") },                // joins a lane: checked whole
            { try write("env-7", version: "2", port: 9100) },                                     // env-0's address: checked whole
            { try write("env-7", version: "3", port: 9107) },                                     // and back
            { try write("production", version: "2", port: 9091, upstream: "staging") },
        ]
        for (step, change) in changes.enumerated() {
            try change()
            try Self.git(folder, ["add", "-A"])
            try Self.git(folder, ["commit", "-q", "-m", "step \(step)"])
            let tip = try await repository.tip()
            let before = repository.cache.parsed.withLock { $0.manifests }
            let updated = try await repository.desired(at: tip)
            let fresh = try await OpsRepository.open(path: folder.path, branch: "main").desired(at: tip)
            #expect(updated.environments.manifests == fresh.environments.manifests, "step \(step)")
            #expect(updated.environments.diagnostics.map(\.description) == fresh.environments.diagnostics.map(\.description), "step \(step)")
            #expect(updated.environments.ordered == fresh.environments.ordered && updated.environments.upstreams == fresh.environments.upstreams, "step \(step)")
            #expect(updated.blobs == fresh.blobs && updated.files == fresh.files, "step \(step)")
            #expect(repository.cache.parsed.withLock { $0.manifests } - before <= 2, "step \(step): only what the commit brought is parsed")
        }
    }

    @Test("the status files' blobs after commits that add, change and delete them (and leave the folder, and bring it back) are a fresh listing's")
    func statusBlobsFollowCommits() async throws {
        let folder = try Self.newRepository()
        defer { try? FileManager.default.removeItem(at: folder) }
        let status = folder.appendingPathComponent("Status")
        try FileManager.default.createDirectory(at: status.appendingPathComponent("notes"), withIntermediateDirectories: true)
        for index in 0..<30 { try "status \(index)\n".write(to: status.appendingPathComponent("env-\(index).md"), atomically: true, encoding: .utf8) }
        try "not a status\n".write(to: status.appendingPathComponent("README"), atomically: true, encoding: .utf8)
        try "inside a folder\n".write(to: status.appendingPathComponent("notes/env-1.md"), atomically: true, encoding: .utf8)
        try Self.git(folder, ["add", "-A"])
        try Self.git(folder, ["commit", "-q", "-m", "statuses"])
        let repository = try await OpsRepository.open(path: folder.path, branch: "main")
        #expect(try await repository.statusBlobs(at: try await repository.tip()).count == 30)
        let steps: [() throws -> Void] = [
            { try "status 3, again\n".write(to: status.appendingPathComponent("env-3.md"), atomically: true, encoding: .utf8) },
            { try FileManager.default.removeItem(at: status.appendingPathComponent("env-4.md")) },
            { try "new\n".write(to: status.appendingPathComponent("env-40.md"), atomically: true, encoding: .utf8)
              try "changed inside a folder\n".write(to: status.appendingPathComponent("notes/env-1.md"), atomically: true, encoding: .utf8) },
            { try FileManager.default.removeItem(at: status.appendingPathComponent("env-5.md"))
              try FileManager.default.createDirectory(at: status.appendingPathComponent("env-5.md"), withIntermediateDirectories: true)
              try "a folder now\n".write(to: status.appendingPathComponent("env-5.md/x"), atomically: true, encoding: .utf8) },
            { for index in 0..<30 where index != 5 {  // env-5.md is a folder now
                  try "status \(index), round two\n".write(to: status.appendingPathComponent("env-\(index).md"), atomically: true, encoding: .utf8)
              } },
            { try FileManager.default.removeItem(at: status) },
            { try FileManager.default.createDirectory(at: status, withIntermediateDirectories: true)
              try "back\n".write(to: status.appendingPathComponent("env-1.md"), atomically: true, encoding: .utf8) },
        ]
        for (step, change) in steps.enumerated() {
            try change()
            try Self.git(folder, ["add", "-A"])
            try Self.git(folder, ["commit", "-q", "--allow-empty", "-m", "step \(step)"])
            let tip = try await repository.tip()
            let followed = try await repository.statusBlobs(at: tip)
            let fresh = try await OpsRepository.open(path: folder.path, branch: "main").statusBlobs(at: tip)
            #expect(followed == fresh, "step \(step)")
        }
    }
}
