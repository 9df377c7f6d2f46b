import Foundation
import Testing
@testable import SlipwayRecords
@testable import SlipwayHost

@Suite("slipway watch", .serialized)
struct DaemonTests {
    func records(_ ops: OpsRepoFixture) throws -> Int {
        try ops.git(["log", "--format=%H", "--grep", "Slipway-Result:"]).split(separator: "\n").count
    }

    @Test("a manifest commit starts a pipeline and the record lands on top; Slipway's own commits start nothing; a revert rolls back")
    func reconcilesCommits() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try await DaemonProcess.with(ops) { daemon in
                try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
                #expect(try await eventually { try records(ops) == 1 }, "\(daemon.output)")
                #expect(try ops.git(["log", "-1", "--format=%s"]).hasPrefix("deploy(production): web none → 1.0.0 succeeded"))
                #expect(fetch(port)?.body == "web 1.0.0\n")

                let release = try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", listen: port))
                #expect(try await eventually { try records(ops) == 2 }, "\(daemon.output)")
                #expect(fetch(port)?.body == "web 2.0.0\n")
                // The record commits moved the branch: the passes they cause find nothing to deploy.
                try await Task.sleep(for: .seconds(1))  // a negative check: five poll intervals in which nothing may start
                #expect(try records(ops) == 2)
                #expect(!daemon.output.contains("deployment=") || daemon.output.components(separatedBy: "result=").count == 3)

                try Command.git(["revert", "--no-edit", release], in: ops.workTree)
                #expect(try await eventually { try records(ops) == 3 }, "\(daemon.output)")
                #expect(try ops.lastRecord().result == .rolledBack)
                #expect(fetch(port)?.body == "web 1.0.0\n")
                #expect(daemon.exitStatus() == nil, "the daemon is still running")
            }
        }
    }

    @Test("an invalid manifest reaching the daemon is not deployed: the rejection is recorded once, and the daemon keeps running")
    func invalidManifest() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try await DaemonProcess.with(ops) { daemon in
                try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
                #expect(try await eventually { try records(ops) == 1 }, "\(daemon.output)")
                try ops.commit("Environments/production.yaml", "service: web\nversion: \"2\"\nrun: { comand: [web] }\n")
                #expect(try await eventually { try records(ops) == 2 }, "\(daemon.output)")
                let diagnostic = "Environments/production.yaml:3:8: unknown key \"comand\" in run (did you mean \"command\"?)"
                #expect(daemon.output.contains(diagnostic))
                let record = try ops.lastRecord()
                #expect(record.result == .failed && record.version == "2")
                #expect(record.reason?.contains(diagnostic) == true, "\(record.reason ?? "")")
                #expect(try ops.git(["show", "HEAD:Status/production.md"]).contains("version: 1.0.0"), "the running version stays")
                #expect(fetch(port)?.body == "web 1.0.0\n")
                _ = try ops.slipway(["notify"])
                try await Task.sleep(for: .seconds(1))  // a negative check: passes in which no second rejection may be recorded
                #expect(try records(ops) == 2)
                #expect(daemon.exitStatus() == nil)
                try ops.commit("Environments/production.yaml", testManifest(version: "3.0.0", listen: port))
                #expect(try await eventually { try records(ops) == 3 }, "\(daemon.output)")
                #expect(try ops.lastRecord().result == .succeeded)
            }
        }
    }

    @Test("one daemon per repository: a second exits with a clear message; SIGTERM leaves traffic served")
    func oneDaemon() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
            let first = try DaemonProcess.start(ops)
            defer { first.stop() }
            #expect(try await eventually { try records(ops) == 1 })
            let second = try DaemonProcess.start(ops)
            #expect(await eventually { second.exitStatus() != nil })
            #expect(second.output.contains("another slipway (pid \(first.pid)) is working on this repository"), "\(second.output)")
            #expect(first.stop() == 0)
            #expect(fetch(port)?.body == "web 1.0.0\n", "instances outlive the daemon")
        }
    }

    /// A canary step long enough to still be running when the test acts.
    static let slowCanary = "canary: { steps: [50, 100], stepDuration: 30s, analysisInterval: 1s }"

    @Test("a newer manifest supersedes the run in progress: recorded superseded, the running version serves, the newer one deploys")
    func superseded() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try await DaemonProcess.with(ops) { daemon in
                try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
                #expect(try await eventually { try records(ops) == 1 }, "\(daemon.output)")
                try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", listen: port, strategy: Self.slowCanary))
                #expect(try await eventually { try ops.slipway(["status", "production"]).stdout.contains("step 1/2: 50% to 2.0.0") }, "\(daemon.output)")
                let newer = try ops.commit("Environments/production.yaml", testManifest(version: "3.0.0", listen: port))
                #expect(try await eventually { try records(ops) == 3 }, "\(daemon.output)")
                let results = try ops.git(["log", "-2", "--reverse", "--format=%(trailers:key=Slipway-Result,valueonly)%(trailers:key=Slipway-Version,valueonly)"])
                    .split(separator: "\n").filter { !$0.isEmpty }
                #expect(results == ["superseded", "2.0.0", "succeeded", "3.0.0"], "\(results)")
                let path = try ops.git(["show", "--name-only", "--format=", "HEAD~1", "--", "Deployments"]).trimmingCharacters(in: .whitespacesAndNewlines)
                let stopped = try RecordTemplates.parseRecord(try ops.git(["show", "HEAD~1:\(path)"]))
                #expect(stopped.reason?.hasPrefix("superseded by \(newer.prefix(7))") == true, "\(stopped.reason ?? "")")
                #expect(stopped.rollback?.afterwards.contains("drained and stopped") == true)
                #expect(fetch(port)?.body == "web 3.0.0\n")
                #expect(ops.instances("production").allSatisfy { $0.version == "3.0.0" })
            }
        }
    }

    @Test("five environments bumped three times: one run and one record per change, none deploys a version that already serves")
    func oneRunPerChange() async throws {
        struct Row: Decodable { let deployment: String, environment: String, version: String, previousVersion: String?, result: String }
        try await OpsRepoFixture.with { ops in
            let names = (1...5).map { "env-\($0)" }
            let ports = try names.map { _ in try Ports.free() }
            try await DaemonProcess.with(ops) { daemon in
                for (round, version) in ["1.0.0", "2.0.0", "3.0.0", "4.0.0"].enumerated() {
                    for (name, port) in zip(names, ports) {
                        let url = try ops.workTree.appendingPathComponent("Environments/\(name).yaml", isDirectory: false).creatingParent()
                        try Data(testManifest(version: version, replicas: 1, listen: port).utf8).write(to: url)
                    }
                    try ops.git(["add", "Environments"])
                    try ops.git(["commit", "--quiet", "-m", "Release \(version) everywhere"])
                    // Five lanes finish one by one, each end and each record commit a pass of its own: the races of the issue.
                    #expect(try await eventually(within: 60) { try records(ops) >= 5 * (round + 1) && names.allSatisfy { ops.instances($0).map(\.version) == [version] } },
                            "\(daemon.output)")
                }
                let serving = Set(names.flatMap { ops.instances($0).map(\.process.pid) })
                try await Task.sleep(for: .seconds(2))  // a negative check: ten poll intervals in which nothing may start
                #expect(try records(ops) == 20, "\(daemon.output)")
                #expect(Set(names.flatMap { ops.instances($0).map(\.process.pid) }) == serving, "no healthy instance replaced")
                let rows = try JSONDecoder().decode([Row].self, from: Data(try ops.slipway(["history", "--json"]).stdout.utf8))
                #expect(rows.count == 20 && rows.allSatisfy { $0.result == "succeeded" && $0.version != $0.previousVersion }, "\(rows)")
                #expect(Set(rows.map { "\($0.environment) \($0.version)" }).count == 20, "each environment deployed each version once: \(rows)")
                #expect(Set(rows.map(\.deployment)).count == 20, "ids unique across environments")
            }
        }
    }

    @Test("a burst of ten commits a second apart to a new canary environment: the tip alone serves, and the registry and HAProxy hold only its set")
    func burstOnNewCanary() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            let canary = "canary: { steps: [50, 100], stepDuration: 2s, analysisInterval: 1s }"
            let load = LoadClient(port: port, seconds: 120)
            defer { load.stop() }
            try await DaemonProcess.with(ops) { daemon in
                for version in (1...10).map({ "\($0).0.0" }) {
                    try ops.commit("Environments/production.yaml", testManifest(version: version, replicas: 2, listen: port, strategy: canary),
                                   message: "Release \(version)")
                    try await Task.sleep(for: .seconds(1))  // pacing: a person's commits, not synchronisation
                }
                #expect(try await eventually(within: 60) { try ops.slipway(["status", "production"]).stdout.contains("production: web 10.0.0 since") },
                        "\(daemon.output)")
                #expect(ops.instances("production").map(\.version) == ["10.0.0", "10.0.0"], "\(ops.instances("production"))")
                // Every live instance process of the environment is the tip's: none of the superseded runs' sets was left behind.
                #expect(ops.liveVersions("production") == ["10.0.0", "10.0.0"])
                for _ in 1...20 { #expect(fetch(port)?.body == "web 10.0.0\n") }
                // After every run, superseded ones included, one version's set served.
                let records = try ops.git(["log", "--format=%H", "--grep", "Slipway-Result:"]).split(separator: "\n").map { commit in
                    let path = try ops.git(["show", "--name-only", "--format=", String(commit), "--", "Deployments"]).trimmingCharacters(in: .whitespacesAndNewlines)
                    return try RecordTemplates.parseRecord(try ops.git(["show", "\(commit):\(path)"]))
                }
                #expect(records.first?.result == .succeeded && records.first?.version == "10.0.0")
                for record in records {
                    #expect(Set(record.instances.map(\.version)).count <= 1, "\(record.deployment) \(record.result) \(record.version): \(record.instances) — \(record.rollback?.afterwards ?? "")")
                }
            }
        }
    }

    @Test("environments are independent: one deploys while another's run is in progress")
    func independentEnvironments() async throws {
        try await OpsRepoFixture.with { ops in
            let eu = try Ports.free(), us = try Ports.free()
            try await DaemonProcess.with(ops) { daemon in
                try ops.commit("Environments/eu.yaml", testManifest(version: "1.0.0", listen: eu))
                #expect(try await eventually { try records(ops) == 1 }, "\(daemon.output)")
                try ops.commit("Environments/eu.yaml", testManifest(version: "2.0.0", listen: eu, strategy: Self.slowCanary))
                #expect(await eventually { ops.instances("eu").contains { $0.version == "2.0.0" } }, "\(daemon.output)")
                try ops.commit("Environments/us.yaml", testManifest(version: "1.0.0", listen: us))
                #expect(try await eventually { try records(ops) == 2 }, "\(daemon.output)")
                #expect(try ops.lastRecord().environment == "us")
                #expect(fetch(us)?.body == "web 1.0.0\n")
                let status = try ops.slipway(["status", "eu"])
                #expect(status.stdout.contains("in flight"), "eu is still in its canary: \(status.output)")
                try ops.commit("Environments/eu.yaml", testManifest(version: "1.0.0", listen: eu))  // ends eu's run quickly
                #expect(try await eventually { try records(ops) == 3 }, "\(daemon.output)")
            }
        }
    }

    @Test("a commit to one environment of many plans that one: the others, held for a secret this machine lacks, stay held and are not planned again")
    func plansWhatChanged() async throws {
        try await OpsRepoFixture.with { ops in
            let web = try Ports.free()
            let held = (1...20).map { "held-\($0)" }
            for (index, name) in held.enumerated() {
                let url = ops.workTree.appendingPathComponent("Environments/\(name).yaml")
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(testManifest(version: "1.0.0", listen: 30_000 + index, secrets: "  secrets: { TOKEN: env:SLIPWAY_TEST_ABSENT_TOKEN }").utf8).write(to: url)
            }
            try Command.git(["add", "Environments"], in: ops.workTree)
            try Command.git(["commit", "--quiet", "-m", "20 environments for another machine"], in: ops.workTree)
            try await DaemonProcess.with(ops, poll: "1h") { daemon in
                #expect(await eventually { daemon.output.components(separatedBy: "held: this machine lacks").count == 21 }, "\(daemon.output)")
                try ops.commit("Environments/web.yaml", testManifest(version: "1.0.0", listen: web))
                _ = try ops.slipway(["notify"])
                #expect(try await eventually { try records(ops) == 1 }, "\(daemon.output)")
                let release = try ops.commit("Environments/web.yaml", testManifest(version: "2.0.0", listen: web))
                _ = try ops.slipway(["notify"])
                #expect(try await eventually { try records(ops) == 2 }, "\(daemon.output)")
                #expect(fetch(web)?.body == "web 2.0.0\n")

                // A pass that tries the held ones again (every 10 s at first; a busy machine may get there) plans everything.
                let passes = daemon.output.split(separator: "\n").filter { $0.contains("reconcile") && $0.contains("commit=\(release.prefix(7))") }
                #expect(!passes.isEmpty && passes.filter { !$0.contains("held retry") }.allSatisfy { $0.contains("environments=1") },
                        "the release's pass plans web alone: \(passes)")
                #expect(daemon.output.components(separatedBy: "held: this machine lacks").count == 21, "each held environment is said once")
                let status = try ops.slipway(["status"])
                #expect(held.allSatisfy { status.stdout.contains("\($0): held by the daemon") }, "\(status.output)")
                let validate = try ops.slipway(["validate"])
                #expect(validate.stdout.hasPrefix("21 manifest(s) valid: held-1, held-10,") && validate.stdout.hasSuffix(" and 1 more\n"), "at most 20 named: \(validate.output)")
            }
        }
    }

    @Test("a failed manifest that one push takes away and brings back is tried again, though the pass before saw the same files")
    func failedBroughtBackInOnePush() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            // Woken by `notify` alone, so that both commits are in before the pass.
            try await DaemonProcess.with(ops, poll: "1h", arguments: ["--no-inotify"]) { daemon in
                try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 1, listen: port))
                _ = try ops.slipway(["notify"])
                #expect(try await eventually { try records(ops) == 1 }, "\(daemon.output)")
                let failing = testManifest(version: "2.0.0", replicas: 1, listen: port, extraArguments: ["--fail-health"], startTimeout: "2s")
                try ops.commit("Environments/production.yaml", failing)
                _ = try ops.slipway(["notify"])
                #expect(try await eventually(within: 30) { try records(ops) == 2 }, "\(daemon.output)")
                #expect(try ops.lastRecord().result == .failed)

                // Two commits that arrive together: away from the failed manifest and back to it.
                // The branch's files are those of the last pass; the newer commit brings the manifest again.
                let base = try ops.git(["rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)
                let away = try ops.graft(.init(mode: "100644", name: "production.yaml", id: try ops.writeBlob(testManifest(version: "1.0.0", replicas: 1, listen: port))),
                                         into: "Environments", message: "back to 1.0.0", updateIndex: false)
                let again = try ops.graft(.init(mode: "100644", name: "production.yaml", id: try ops.writeBlob(failing)),
                                          into: "Environments", message: "2.0.0 again", updateIndex: false)
                #expect(away != base && again != away)
                _ = try ops.slipway(["notify"])
                #expect(try await eventually(within: 30) { try records(ops) == 3 }, "\(daemon.output)")
                #expect(try ops.lastRecord().result == .failed && ops.lastRecord().version == "2.0.0", "tried again")
                #expect(fetch(port)?.body == "web 1.0.0\n")
            }
        }
    }

    @Test("slipway notify wakes the daemon at once instead of its next poll")
    func notify() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try await DaemonProcess.with(ops, poll: "1h") { daemon in
                #expect(await eventually { daemon.output.contains("watching") })
                // Notify without a change: nothing to do. Then a commit in a folder inotify does not watch (a bare push would land
                // there too): only the notification wakes the daemon.
                try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
                let notified = try ops.slipway(["notify"])
                #expect(notified.stdout.contains("notified"), "\(notified.output)")
                #expect(try await eventually(within: 10) { try records(ops) == 1 }, "\(daemon.output)")
            }
            let none = try ops.slipway(["notify"])
            #expect(none.status == 0 && none.stdout.contains("no daemon is watching"))
        }
    }
}

@Suite("git hooks", .serialized)
struct HookTests {
    @Test("the client pre-commit hook refuses an invalid manifest at commit time with path:line:col")
    func preCommit() async throws {
        try await OpsRepoFixture.with { ops in
            let installed = try Command.slipway(["hooks", "install", "--repo", ops.repo.path])
            #expect(installed.status == 0, "\(installed.output)")
            let url = try ops.workTree.appendingPathComponent("Environments/production.yaml", isDirectory: false).creatingParent()
            try Data("service: web\nversion: \"1\"\nrun: { command: [web], replicas: many }\ntraffic: { listen: \"127.0.0.1:1\" }\n".utf8).write(to: url)
            try ops.git(["add", "-A"])
            let commit = try Command.run(URL(fileURLWithPath: "/usr/bin/git"), ["commit", "-m", "bad"], directory: ops.workTree)
            #expect(commit.status != 0)
            #expect(commit.stderr.contains("Environments/production.yaml:3:34: run.replicas must be a whole number"), "\(commit.output)")
            #expect(try Command.run(URL(fileURLWithPath: "/usr/bin/git"), ["log"], directory: ops.workTree).status != 0, "nothing was committed")

            // `git commit -am`, the README's release flow: git stages into a temporary index (GIT_INDEX_FILE).
            try Data(testManifest(version: "1.0.0", listen: 1).utf8).write(to: url)
            #expect(try Command.run(URL(fileURLWithPath: "/usr/bin/git"), ["commit", "-am", "good"], directory: ops.workTree).status == 0)
            try Data("service: web\nversion: \"2\"\nrun: { command: [web], replicas: many }\ntraffic: { listen: \"127.0.0.1:1\" }\n".utf8).write(to: url)
            let amended = try Command.run(URL(fileURLWithPath: "/usr/bin/git"), ["commit", "-am", "bad again"], directory: ops.workTree)
            #expect(amended.status != 0 && amended.stderr.contains("run.replicas must be a whole number"), "\(amended.output)")
            #expect(try ops.git(["log", "--format=%s"]) == "good\n")
        }
    }

    @Test("the server post-receive hook wakes the daemon: a push deploys with polling and inotify off")
    func postReceive() async throws {
        try await OpsRepoFixture.with(bare: true) { ops in
            #expect(try Command.slipway(["hooks", "install", "--server", "--repo", ops.repo.path]).status == 0)
            #expect(try String(contentsOf: ops.repo.appendingPathComponent("hooks/post-receive"), encoding: .utf8)
                .contains(Command.productsDirectory.appendingPathComponent("slipway-notify").path))
            let port = try Ports.free()
            try ops.commit("README.md", "ops\n")
            try await DaemonProcess.with(ops, poll: "1h", arguments: ["--no-inotify"]) { daemon in
                #expect(await eventually { daemon.output.contains("trigger=start") }, "\(daemon.output)")
                try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
                #expect(try await eventually(within: 20) { try ops.git(["log", "-1", "--format=%s", "main"]).hasPrefix("deploy(production)") },
                        "\(daemon.output)")
            }
        }
    }

    @Test("the server pre-receive hook rejects a push whose manifests are invalid, and accepts a valid one")
    func preReceive() async throws {
        try await OpsRepoFixture.with(bare: true) { ops in
            let installed = try Command.slipway(["hooks", "install", "--server", "--repo", ops.repo.path])
            #expect(installed.status == 0, "\(installed.output)")
            let url = try ops.workTree.appendingPathComponent("Environments/production.yaml", isDirectory: false).creatingParent()
            try Data("service: web\nversion: \"1\"\nrun: { command: [web] }\ntraffic: { listen: \"127.0.0.1:1\" }\nhealth: { interval: soon }\n".utf8).write(to: url)
            try Command.git(["add", "-A"], in: ops.workTree)
            try Command.git(["commit", "-q", "-m", "bad"], in: ops.workTree)
            let push = try Command.run(URL(fileURLWithPath: "/usr/bin/git"), ["push", "origin", "HEAD:main"], directory: ops.workTree)
            #expect(push.status != 0)
            #expect(push.stderr.contains("Environments/production.yaml:5:21: health.interval must be a duration"), "\(push.stderr)")
            #expect(try Command.run(URL(fileURLWithPath: "/usr/bin/git"), ["--git-dir", ops.repo.path, "log"], directory: ops.root).status != 0,
                    "the bare repository received nothing")

            try Data(testManifest(version: "1.0.0", listen: 1).utf8).write(to: url)
            try Command.git(["commit", "-q", "-am", "good"], in: ops.workTree)
            let good = try Command.run(URL(fileURLWithPath: "/usr/bin/git"), ["push", "origin", "HEAD:main"], directory: ops.workTree)
            #expect(good.status == 0, "\(good.stderr)")
        }
    }
}

extension URL {
    /// Creates the parent folder and returns the URL.
    func creatingParent() throws -> URL {
        try FileManager.default.createDirectory(at: deletingLastPathComponent(), withIntermediateDirectories: true)
        return self
    }
}
