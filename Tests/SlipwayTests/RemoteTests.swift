import Foundation
import Logging
import SlipwayDaemon
import SlipwayEngine
import SlipwayGit
import Testing
@testable import SlipwayRecords
@testable import SlipwayHost

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
            let first = try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))

            try await DaemonProcess.with(ops, poll: "200ms", arguments: ["--remote", remote, "--repo", clone.path]) { daemon in
                #expect(try await eventually(within: 30) { try records() == 1 }, "\(daemon.output)")
                // The outcome noted on the release commit reaches the remote with the record.
                #expect(await eventually { (try? ops.git(["notes", "--ref=slipway", "show", first]))?.hasPrefix("production: web none → 1.0.0 succeeded") == true },
                        "\(daemon.output)")
                #expect(fetch(port)?.body == "web 1.0.0\n")

                // The remote's pre-receive hook holds Slipway's next record push until a person has pushed: after
                // Slipway's last fetch and before its push lands (the race a busy repository has, made certain).
                let slowOnce = ops.repo.appendingPathComponent("slow-once"), holding = ops.repo.appendingPathComponent("holding")
                let release = ops.repo.appendingPathComponent("release")
                let hook = ops.repo.appendingPathComponent("hooks/pre-receive")
                try Data("""
                    #!/bin/sh
                    read old new ref
                    if [ -f '\(slowOnce.path)' ] && git cat-file commit "$new" | grep -q '^Slipway-Result:'; then
                        rm -f '\(slowOnce.path)'; touch '\(holding.path)'; i=0
                        while [ ! -f '\(release.path)' ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
                    fi
                    exit 0

                    """.utf8).write(to: hook)
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: hook.path)
                try Data().write(to: slowOnce)  // held: Slipway's next push of a record, the one of 2.0.0
                _ = try personCommits("Environments/production.yaml", testManifest(version: "2.0.0", listen: port))
                #expect(await eventually(within: 30) { FileManager.default.fileExists(atPath: holding.path) }, "Slipway pushes its record")
                let note = try personCommits("NOTES.md", "deploy window: Tuesday\n")
                try Data().write(to: release)
                #expect(try await eventually(within: 30) { try records() == 2 }, "\(daemon.output)")
                #expect(daemon.output.contains("push refused"), "the push met the person's commit: \(daemon.output)")

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

extension RemoteTests {
    @Test("a push to the origin wakes a daemon in remote mode at once: the server's hooks are told where it listens (--notify), no poll is waited for")
    func pushWakesTheRemoteDaemon() async throws {
        try await OpsRepoFixture.with(bare: true) { ops in
            let port = try Ports.free()
            let remote = ops.repo.path, clone = ops.root.appendingPathComponent("slipway/ops.git")
            defer { _ = try? Command.slipway(["down", "--repo", clone.path]) }
            let install = try Command.slipway(["hooks", "install", "--server", "--repo", remote, "--notify", clone.path])
            #expect(install.status == 0 && install.stdout.contains("a push here also wakes the daemon of \(clone.path)"), "\(install.output)")
            #expect(try Command.slipway(["hooks", "install", "--repo", remote, "--notify", clone.path]).status != 0, "--notify is for --server")
            let records = { try ops.git(["log", "--format=%s", "--grep", "Slipway-Result:", "main"]) }
            _ = try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 1, listen: port))
            try await DaemonProcess.with(ops, poll: "1h", arguments: ["--remote", remote, "--repo", clone.path]) { daemon in
                #expect(try await eventually(within: 30) { try records().contains("1.0.0 succeeded") }, "the first fetch: \(daemon.output)")
                try Command.git(["pull", "--quiet", "--rebase", "origin", "main"], in: ops.workTree)
                _ = try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", replicas: 1, listen: port))
                // The poll is an hour: only the hook can have woken it.
                #expect(try await eventually(within: 30) { try records().contains("1.0.0 → 2.0.0 succeeded") }, "\(daemon.output)")
                #expect(fetch(port)?.body == "web 2.0.0\n")
            }
        }
    }

    @Test("after the remote is force-pushed back (its branch pruned in between), Slipway re-creates only its commits that never reached it, never an old revert")
    func forcedBackRemote() async throws {
        try await OpsRepoFixture.with(bare: true) { ops in
            let port = try Ports.free()
            let base = try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
            let clonePath = ops.root.appendingPathComponent("slipway/ops.git")
            try await RemoteSync.cloneIfMissing(ops.repo.path, to: clonePath.path)
            let repository = try await OpsRepository.open(path: clonePath.path, branch: "main")
            let state = StateDirectory(root: ops.root.appendingPathComponent("state"))
            let sync = RemoteSync(url: ops.repo.path, repository: repository, state: state, logger: Logger(label: "test"))

            // Slipway's own manifest commit (as a revert is), pushed to the remote.
            let revert = try await repository.git.commit([FileUpdate(path: "Environments/production.yaml", content: Data(testManifest(version: "0.9.0", listen: port).utf8))],
                                                         message: "revert", author: Signature(name: "Slipway", email: "slipway@localhost"), onto: "refs/heads/main")
            let own = try #require(revert)
            state.rememberOwnCommit(own)
            try await sync.push()
            #expect(try ops.git(["rev-parse", "main"]).trimmingCharacters(in: .whitespacesAndNewlines) == own.hex)

            // Someone forces the remote back to before it and adds a commit of their own.
            try Command.git(["reset", "-q", "--hard", base], in: ops.workTree)
            try ops.commit("NOTES.md", "rewritten\n", signedWith: nil)
            try Command.git(["push", "-q", "-f", "origin", "HEAD:main"], in: ops.workTree)
            // As a fetch --prune leaves it when the branch was deleted on the remote in between.
            try Command.git(["--git-dir", clonePath.path, "update-ref", "-d", "refs/remotes/origin/main"], in: ops.root)
            try await sync.pull()
            let tip = try #require(try await repository.git.resolve(ref: "refs/heads/main"))
            #expect(tip.hex == (try ops.git(["rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)), "nothing re-created on the rewritten remote")
            #expect(try await repository.git.readFile("Environments/production.yaml", at: tip).map { String(decoding: $0, as: UTF8.self) }?.contains("1.0.0") == true)
        }
    }
}
