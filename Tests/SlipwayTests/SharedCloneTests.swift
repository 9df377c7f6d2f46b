import Foundation
import Testing
@testable import SlipwayGit
@testable import SlipwayRecords
@testable import SlipwayHost

/// A team works in the clone the daemon commits to: people commit with `commit -a` and
/// `add` + `commit`, pull a colleague's pushes with `pull --rebase` and push, while the daemon
/// deploys their releases. Real git, real daemon, real instances and HAProxy.
@Suite("working in the daemon's clone", .serialized)
struct SharedCloneTests {
    /// What the person's loop did, for the closing figures.
    struct Tally {
        var commits = 0, pulls = 0, refused = 0, rebasesAborted = 0
    }

    /// Runs a git command the way a person does: when git refuses because Slipway holds the
    /// index or moved the branch under it, they run it again (200 times at most: a refusal that
    /// lasts is a broken clone, and fails the test).
    func person(_ arguments: [String], in clone: URL, tally: inout Tally) throws {
        for _ in 0..<200 {
            let result = try Command.run(URL(fileURLWithPath: "/usr/bin/git"), arguments, directory: clone)
            if result.status == 0 { return }
            // What git says when it meets a record commit half-way (the branch moved, the index not
            // yet renamed into place) — as it does when two git commands meet.
            let busy = ["index.lock", "cannot lock ref", "but expected", "could not lock", "fetch updated the current branch head",
                        "uncommitted changes", "unstaged changes", "would be overwritten", "could not update refs/heads/main"].contains { result.stderr.contains($0) }
            guard busy else { throw TestFailure("git \(arguments.joined(separator: " ")) failed: \(result.stderr)") }
            tally.refused += 1
            if result.stderr.contains("could not update refs/heads/main") {
                // A rebase read the branch just before a record commit moved it: git refuses its final
                // update. The person aborts it, which puts main back where the rebase found it — without
                // the record commit made meanwhile; Slipway's next pass puts the record back.
                try Command.git(["rebase", "--abort"], in: clone)
                tally.rebasesAborted += 1
            }
        }
        throw TestFailure("git \(arguments.joined(separator: " ")) stayed refused")
    }

    @Test("50 releases deployed while a person commits, pulls with rebase and pushes in the same clone: no record or status is lost")
    func humansAndDaemon() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            let clone = ops.workTree
            try ops.commit("notes.md", "# notes\n")
            let origin = ops.root.appendingPathComponent("origin.git"), colleague = ops.root.appendingPathComponent("colleague")
            try Command.git(["clone", "--quiet", "--bare", clone.path, origin.path], in: ops.root)
            try Command.git(["remote", "add", "origin", origin.path], in: clone)
            try Command.git(["fetch", "--quiet", "origin"], in: clone)
            try Command.git(["branch", "--quiet", "--set-upstream-to=origin/main"], in: clone)
            try Command.git(["clone", "--quiet", origin.path, colleague.path], in: ops.root)

            var tally = Tally()
            let releases = 50
            try await DaemonProcess.with(ops) { daemon in
                for release in 1...releases {
                    let version = "1.0.\(release)"
                    try FileManager.default.createDirectory(at: clone.appendingPathComponent("Environments"), withIntermediateDirectories: true)
                    try Data(testManifest(version: version, replicas: 1, listen: port).utf8)
                        .write(to: clone.appendingPathComponent("Environments/qa.yaml"))
                    if release == 1 { try person(["add", "Environments/qa.yaml"], in: clone, tally: &tally) }
                    try person(["commit", "--quiet", "-a", "-m", "release \(version)"], in: clone, tally: &tally)
                    tally.commits += 1
                    // The person keeps working, back to back, until the release is deployed.
                    var step = 0, deployed = false
                    let deadline = ContinuousClock.now + .seconds(60)
                    while ContinuousClock.now < deadline {
                        if (try? ops.git(["show", "HEAD:Status/qa.md"]))?.contains("version: \(version)\n") == true { deployed = true; break }
                        step += 1
                        switch step % 6 - 3 {
                        case 0:
                            // A colleague pushes; the person pulls it in with a rebase and pushes everything.
                            let file = colleague.appendingPathComponent("colleague-\(release)-\(step).md")
                            try Data("from a colleague\n".utf8).write(to: file)
                            try Command.git(["add", file.lastPathComponent], in: colleague)
                            try Command.git(["commit", "--quiet", "-m", "colleague \(release).\(step)"], in: colleague)
                            try Command.git(["pull", "--quiet", "--rebase"], in: colleague)
                            try Command.git(["push", "--quiet", "origin", "HEAD:main"], in: colleague)
                            try person(["pull", "--quiet", "--rebase"], in: clone, tally: &tally)
                            try person(["push", "--quiet", "origin", "HEAD:main"], in: clone, tally: &tally)
                            tally.pulls += 1
                        case -2, 0, 2:
                            let notes = clone.appendingPathComponent("notes.md")
                            let handle = try FileHandle(forWritingTo: notes)
                            try handle.seekToEnd()
                            try handle.write(contentsOf: Data("- \(release).\(step)\n".utf8))
                            try handle.close()
                            try person(["commit", "--quiet", "-a", "-m", "notes \(release).\(step)"], in: clone, tally: &tally)
                            tally.commits += 1
                        default:
                            let file = "docs/\(release)-\(step).md"
                            try FileManager.default.createDirectory(at: clone.appendingPathComponent("docs"), withIntermediateDirectories: true)
                            try Data("doc\n".utf8).write(to: clone.appendingPathComponent(file))
                            try person(["add", file], in: clone, tally: &tally)
                            try person(["commit", "--quiet", "-m", "doc \(release).\(step)"], in: clone, tally: &tally)
                            tally.commits += 1
                        }
                    }
                    #expect(deployed, "release \(version) was not deployed: \(daemon.output.suffix(3000))")
                    if !deployed { return }
                }
                #expect(daemon.exitStatus() == nil)
            }
            print("shared clone: \(releases) releases, \(tally.commits) human commits, \(tally.pulls) pulls with rebase, \(tally.refused) git commands refused while Slipway held the index or moved the branch, \(tally.rebasesAborted) rebases aborted")

            // Every release's record is in the tip's tree, read with git and with libgit2 (history).
            let tree = try ops.git(["ls-tree", "-r", "--name-only", "HEAD", "Deployments/qa"]).split(separator: "\n")
            let versions = Set(tree.compactMap { path in path.split(separator: "_").dropFirst(2).first.map(String.init) })
            #expect(versions == Set((1...releases).map { "1.0.\($0)" }), "\(tree.count) records: \(versions.sorted())")
            #expect(tree.allSatisfy { $0.hasSuffix("_succeeded.md") }, "\(tree)")
            let history = try ops.slipway(["history", "qa", "--json"])
            let entries = try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [[String: Any]]
            #expect(entries?.count == releases, "\(history.output.prefix(500))")
            #expect(try ops.git(["show", "HEAD:Status/qa.md"]).contains("version: 1.0.\(releases)\n"))
            // A person's commit takes a record or the status out only through git's own window (see
            // README, "Working in the daemon's clone"), and Slipway's next pass puts it back.
            let subjects = try ops.git(["log", "--reverse", "--format=%s"]).split(separator: "\n")
            let slipways = { (subject: Substring) in subject.hasPrefix("deploy(qa)") || subject.hasPrefix("records: put back") }
            let removals = try ops.git(["log", "--reverse", "--diff-filter=D", "--format=%s", "--", "Deployments/"]).split(separator: "\n")
            let statusChanges = try ops.git(["log", "--reverse", "--format=%s", "--", "Status/qa.md"]).split(separator: "\n").filter { !slipways($0) }
            for taken in Set(removals + statusChanges) {
                let after = subjects.drop { $0 != taken }.dropFirst()
                #expect(after.contains("records: put back what left the branch"), "\(taken) took a record or the status out, and nothing put it back")
            }
            print("shared clone: \(Set(removals + statusChanges).count) commits from a stale index, each followed by a put-back")
            #expect(try ops.git(["status", "--porcelain", "--untracked-files=no"]).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: clone.appendingPathComponent(".git/index.lock").path))
        }
    }

    @Test("a commit waits for git's index lock; held past the wait, nothing is committed and the lock is left alone")
    func heldIndexLock() async throws {
        try await OpsRepoFixture.with { ops in
            try ops.commit("notes.md", "# notes\n")
            let repository = try GitRepository(path: ops.workTree.path)
            await repository.setIndexWait(.milliseconds(300))
            let lock = ops.workTree.appendingPathComponent(".git/index.lock")
            try Data().write(to: lock)
            let tip = try ops.git(["rev-parse", "HEAD"])
            let author = Signature(name: "Slipway", email: "slipway@localhost")
            await #expect(throws: GitError.self) {
                try await repository.commit([FileUpdate(path: "Deployments/qa/r.md", content: Data("r\n".utf8))], message: "record", author: author, onto: "refs/heads/main")
            }
            #expect(try ops.git(["rev-parse", "HEAD"]) == tip, "the branch did not move")
            #expect(FileManager.default.fileExists(atPath: lock.path), "someone else's lock is never taken away")

            try FileManager.default.removeItem(at: lock)
            try await repository.commit([FileUpdate(path: "Deployments/qa/r.md", content: Data("r\n".utf8))], message: "record", author: author, onto: "refs/heads/main")
            #expect(try ops.git(["status", "--porcelain"]).isEmpty, "index and working tree agree with the new tip")
            #expect(try ops.git(["ls-files", "Deployments"]) == "Deployments/qa/r.md\n")
        }
    }

    /// The two status files `commitRecord` rewrites, as committed before it.
    static func commitStatuses(in ops: OpsRepoFixture) throws {
        try ops.commit("Status/qa.md", "slipway's status 1\n")
        try ops.commit("Status/staging.md", "slipway's status 1\n")
    }

    /// Slipway's record commit of two status files and a record, in the clone the person works in.
    static func commitRecord(in ops: OpsRepoFixture) async throws {
        try await GitRepository(path: ops.workTree.path).commit(
            [FileUpdate(path: "Status/qa.md", content: Data("slipway's status 2\n".utf8)),
             FileUpdate(path: "Status/staging.md", content: Data("slipway's status 2\n".utf8)),
             FileUpdate(path: "Deployments/qa/r.md", content: Data("r\n".utf8))],
            message: "record", author: Signature(name: "Slipway", email: "slipway@localhost"), onto: "refs/heads/main")
    }

    /// Files of Slipway's own left in the working tree or the git directory.
    static func leftovers(_ ops: OpsRepoFixture) throws -> [String] {
        try FileManager.default.subpathsOfDirectory(atPath: ops.workTree.path).filter { $0.contains(".slipway-") }
    }

    @Test("a record commit keeps a person's uncommitted edit of a file it writes, updates the others, and leaves no file of its own")
    func personsEditKept() async throws {
        try await OpsRepoFixture.with { ops in
            try Self.commitStatuses(in: ops)
            let edited = ops.workTree.appendingPathComponent("Status/qa.md")
            try Data("the person's edit\n".utf8).write(to: edited)
            try await Self.commitRecord(in: ops)
            #expect(try String(contentsOf: edited, encoding: .utf8) == "the person's edit\n")
            #expect(try ops.git(["show", ":Status/qa.md"]) == "slipway's status 2\n", "the index agrees with the tip")
            #expect(try String(contentsOf: ops.workTree.appendingPathComponent("Status/staging.md"), encoding: .utf8) == "slipway's status 2\n")
            #expect(try ops.git(["status", "--porcelain"]) == " M Status/qa.md\n", "only the person's edit differs")
            let left = try Self.leftovers(ops)
            #expect(left.isEmpty, "\(left)")
        }
    }

    @Test("a record commit reads no link and writes through none: a status file linked to /dev/zero and a records folder linked outside are left as they are")
    func linksInTheWorkingTree() async throws {
        try await OpsRepoFixture.with { ops in
            try Self.commitStatuses(in: ops)
            let outside = ops.root.appendingPathComponent("outside")
            try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
            // What a pull of someone's push leaves: links where Slipway writes.
            let status = ops.workTree.appendingPathComponent("Status/qa.md")
            try FileManager.default.removeItem(at: status)
            try FileManager.default.createSymbolicLink(atPath: status.path, withDestinationPath: "/dev/zero")
            try FileManager.default.createDirectory(at: ops.workTree.appendingPathComponent("Deployments"), withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: ops.workTree.appendingPathComponent("Deployments/qa").path, withDestinationPath: outside.path)
            // A person's chmod of a file Slipway rewrites stays.
            let staging = ops.workTree.appendingPathComponent("Status/staging.md")
            try FileManager.default.setAttributes([.posixPermissions: 0o664], ofItemAtPath: staging.path)

            try await Self.commitRecord(in: ops)
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: status.path) == "/dev/zero")
            #expect(try FileManager.default.contentsOfDirectory(atPath: outside.path).isEmpty, "nothing written through the link")
            #expect(try ops.git(["show", "HEAD:Deployments/qa/r.md"]) == "r\n" && ops.git(["show", ":Deployments/qa/r.md"]) == "r\n")
            #expect(try String(contentsOf: staging, encoding: .utf8) == "slipway's status 2\n")
            #expect((try FileManager.default.attributesOfItem(atPath: staging.path)[.posixPermissions] as? Int) == 0o664)
            let left = try Self.leftovers(ops)
            #expect(left.isEmpty, "\(left)")
        }
    }

    @Test("while a person's git holds the index, a release deploys and its record waits in the journal; the next pass commits it")
    func recordWaitsForTheIndex() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try await DaemonProcess.with(ops) { daemon in
                try ops.commit("Environments/qa.yaml", testManifest(version: "1.0.0", replicas: 1, listen: port))
                #expect(try await eventually { (try? ops.lastRecord().version) == "1.0.0" }, "\(daemon.output)")
                let lock = ops.workTree.appendingPathComponent(".git/index.lock")
                try Data().write(to: lock)
                defer { try? FileManager.default.removeItem(at: lock) }
                // A push from elsewhere (plumbing: the index is locked).
                let blob = try ops.writeBlob(testManifest(version: "2.0.0", replicas: 1, listen: port))
                try ops.graft(.init(mode: "100644", name: "qa.yaml", id: blob), into: "Environments", message: "release 2.0.0", updateIndex: false)
                #expect(try await eventually(within: 40) { daemon.output.contains("its record could not be committed") }, "\(daemon.output)")
                #expect(fetch(port)?.body == "web 2.0.0\n")
                #expect(try ops.git(["log", "-1", "--format=%s"]) == "release 2.0.0\n", "nothing was committed past the lock")
                #expect(FileManager.default.fileExists(atPath: ops.stateDirectory.appendingPathComponent("envs/qa/journal.json").path))

                try FileManager.default.removeItem(at: lock)
                _ = try ops.slipway(["notify"])
                #expect(try await eventually(within: 30) { (try? ops.lastRecord())?.version == "2.0.0" }, "\(daemon.output)")
                #expect(try ops.lastRecord().result == .succeeded)
                #expect(try ops.git(["ls-files", "--stage", "Deployments/"]).contains(try ops.lastRecordPath()), "the index lists the record")
                #expect(daemon.exitStatus() == nil)
            }
        }
    }

    @Test("records and the status file that a reset or a revert took off the branch are put back by the next pass; archived records stay archived")
    func lostRecordsComeBack() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            var records: [String] = []
            for version in ["1.0.0", "2.0.0"] {
                try ops.commit("Environments/qa.yaml", testManifest(version: version, replicas: 1, listen: port))
                #expect(try ops.slipway(["apply"]).status == 0)
                records.append(try ops.lastRecordPath())
            }
            let firstRecordCommit = try ops.git(["log", "--format=%H", "-1", "--", records[0]]).trimmingCharacters(in: .whitespacesAndNewlines)
            try Command.git(["reset", "--quiet", "--hard", "HEAD~1"], in: ops.workTree)  // the 2.0.0 record commit leaves the branch
            try Command.git(["revert", "--no-edit", firstRecordCommit], in: ops.workTree)  // and a commit takes the 1.0.0 record out
            #expect(try ops.git(["ls-files", "Deployments"]).isEmpty)

            let apply = try ops.slipway(["apply"])
            #expect(apply.status == 0, "\(apply.output)")
            #expect(try ops.git(["log", "-1", "--format=%s"]) == "records: put back what left the branch\n")
            #expect(try ops.git(["ls-files", "Deployments"]).split(separator: "\n").map(String.init) == records.sorted())
            #expect(try ops.git(["show", "HEAD:Status/qa.md"]).contains("version: 2.0.0\n"))
            #expect(try ops.git(["status", "--porcelain"]).isEmpty)
            #expect(try ops.slipway(["apply"]).status == 0)
            #expect(try ops.git(["log", "--format=%s"]).components(separatedBy: "records: put back").count == 2, "nothing more to put back")

            #expect(try ops.slipway(["archive", "--before", "2100-01-01"]).status == 0)
            #expect(try ops.slipway(["apply"]).status == 0)
            #expect(try ops.git(["ls-files", "Deployments"]).isEmpty, "archived records are not put back")
        }
    }
}
