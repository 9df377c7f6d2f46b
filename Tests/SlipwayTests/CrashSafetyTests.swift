import Foundation
import Testing
@testable import SlipwayRecords
@testable import SlipwayHost

@Suite("crash safety", .serialized)
struct CrashSafetyTests {
    static let canary = "canary: { steps: [50, 100], stepDuration: 1s, analysisInterval: 1s }"

    /// Journal events at which the daemon is killed: phase boundaries, inside a canary step
    /// (`@ms` after it began), after promotion, with the outcome known but not committed, and
    /// after the commit but before the journal was closed.
    static let points = [
        "end pre-flight", "begin production", "done production: start", "step production: step 1/2@400",
        "done production: step 1/2", "begin post-deploy", "finished", "committed",
    ]

    /// The kill is real (SIGKILL from inside, at an exact point, through `SLIPWAY_FAILPOINT`);
    /// everything else — HAProxy, the instances, the git repository, the restarted daemon — is real.
    @Test("SIGKILL at each phase boundary and inside a canary step: one record per run, no orphan, traffic served throughout")
    func killedAtEveryPoint() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
            let first = try ops.slipway(["apply"])
            #expect(first.status == 0, "\(first.output)")
            // Bounds, not the length: stopped below. A loaded full run takes minutes here, long enough
            // for 200,000 requests: the client stopped then, and the last canary got none.
            let load = LoadClient(port: port, seconds: 600, requests: 5_000_000)
            var summary: LoadClient.Summary?
            defer { if summary == nil { _ = load.stop() } }

            let journal = ops.stateDirectory.appendingPathComponent("envs/production/journal.json")
            for (index, point) in Self.points.enumerated() {
                let version = "2.\(index).0"
                let release = try ops.commit("Environments/production.yaml",
                                             testManifest(version: version, listen: port, strategy: Self.canary), message: "release \(version)")
                let killed = try DaemonProcess.start(ops, environment: ["SLIPWAY_FAILPOINT": point])
                var status: Int32?
                #expect(await eventually(within: 30) { status = killed.exitStatus(); return status != nil }, "\(point): \(killed.output)")
                #expect(status == 137, "\(point): killed by SIGKILL, not ended on its own: \(killed.output)")
                #expect(fetch(port)?.status == 200, "\(point): HAProxy serves while no Slipway runs")

                try await DaemonProcess.with(ops) { daemon in
                    let converged = await eventually(within: 40) {
                        let record = try? ops.lastRecord()  // HEAD may be a manifest commit still
                        return record?.version == version && record?.result == .succeeded && !FileManager.default.fileExists(atPath: journal.path)
                    }
                    #expect(converged, "\(point): \(daemon.output)")
                }
                let records = try recordsSince(release, ops)
                #expect(Set(records.map(\.deployment)).count == records.count, "\(point): a record written twice: \(records.map(\.deployment))")
                if point == "finished" || point == "committed" {
                    #expect(records.map(\.result) == [.succeeded], "\(point): the run had ended; its own record only: \(records.map { $0.reason ?? "" })")
                } else {
                    #expect(records.map(\.result) == [.interrupted, .succeeded], "\(point): \(records.map(\.result)) \(records.map { $0.reason ?? "" })")
                    #expect(records.first?.reason?.contains("Slipway stopped during the run (\(point.split(separator: "@")[0])") == true,
                            "\(point): \(records.first?.reason ?? "")")
                }
                let registered = Set(ops.instances("production").map(\.id))
                #expect(ops.instances("production").allSatisfy { $0.version == version && $0.isRunning }, "\(point)")
                #expect(registered.count == 2, "\(point): \(registered)")
                let started = ProcessControl.processes(withEnvironment: ["SLIPWAY_STATE=\(ops.stateDirectory.path)"])
                #expect(Set(started.compactMap { $0.environment["SLIPWAY_INSTANCE"] }) == registered, "\(point): orphan processes")
            }
            summary = load.stop()
            #expect(summary?.failed == 0, "\(summary?.errors.prefix(5) ?? [])")
            #expect((summary?.succeeded ?? 0) > 1_000)
        }
    }

    @Test("SIGKILL while production's run deploys into its upstream: both runs recorded interrupted, then both converge")
    func killedDuringStaging() async throws {
        try await OpsRepoFixture.with { ops in
            let staging = try Ports.free(), production = try Ports.free()
            try ops.commit("Environments/staging.yaml", testManifest(version: "1.0.0", listen: staging))
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: production, upstream: "staging"))
            let first = try ops.slipway(["apply"])
            #expect(first.status == 0, "\(first.output)")
            let release = try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", listen: production, upstream: "staging"))
            // The first rollout batch of the run happens in staging, inside production's promote step: killed right after it.
            let killed = try DaemonProcess.start(ops, environment: ["SLIPWAY_FAILPOINT": "done production: batch 1/2"])
            var status: Int32?
            #expect(await eventually(within: 30) { status = killed.exitStatus(); return status != nil }, "\(killed.output)")
            #expect(status == 137)
            #expect(fetch(production)?.body == "web 1.0.0\n" && fetch(staging)?.status == 200)
            try await DaemonProcess.with(ops) { daemon in
                #expect(await eventually(within: 40) { fetch(production)?.body == "web 2.0.0\n" && (try? ops.lastRecord().environment) == "production" },
                        "\(daemon.output)")
            }
            let records = try recordsSince(release, ops)
            let summary = records.map { "\($0.environment) \($0.result.rawValue)" }
            #expect(summary == ["production interrupted", "staging interrupted", "staging succeeded", "production succeeded"], "\(summary)")
            #expect(Set(records.map(\.deployment)).count == records.count)
            #expect(fetch(staging)?.body == "web 2.0.0\n")
            let promotions = try ops.git(["log", "--format=%s", "\(release)..HEAD", "--grep", "^promote("]).split(separator: "\n")
            #expect(promotions.count == 1, "promoted once, not again after the restart: \(promotions)")
            let registered = Set((ops.instances("staging") + ops.instances("production")).map(\.id))
            let started = ProcessControl.processes(withEnvironment: ["SLIPWAY_STATE=\(ops.stateDirectory.path)"])
            #expect(Set(started.compactMap { $0.environment["SLIPWAY_INSTANCE"] }) == registered, "orphan processes")
        }
    }

    @Test("SIGKILL in a heal before its record: the next daemon finishes it with one interrupted record, every replica back, no orphan")
    func killedMidHeal() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
            #expect(try ops.slipway(["apply"]).status == 0)
            let release = try ops.git(["rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)
            // Right after the heal's start step: the new instance serves, its record is not committed.
            let killed = try DaemonProcess.start(ops, environment: ["SLIPWAY_FAILPOINT": "done healing: start"])
            let victim = try #require(ops.instances("production").first { $0.isRunning })
            // Killed once the daemon watches it (a pidfd on it, so its first plan is done): a heal, not a plan's repair, puts it back.
            #expect(await eventually { Self.watches(killed.pid, victim.process.pid) }, "\(killed.output)")
            kill(victim.process.pid, SIGKILL)
            var status: Int32?
            #expect(await eventually(within: 30) { status = killed.exitStatus(); return status != nil }, "\(killed.output)")
            let journal = ops.stateDirectory.appendingPathComponent("envs/production/journal.json")
            #expect(status == 137 && FileManager.default.fileExists(atPath: journal.path))
            #expect(try !String(contentsOf: journal, encoding: .utf8).contains("refused"), "a heal's manifest is the deployed one, never refused")
            #expect(fetch(port)?.body == "web 1.0.0\n", "the other replica serves meanwhile")

            try await DaemonProcess.with(ops) { daemon in
                #expect(await eventually(within: 30) { (try? recordsSince(release, ops).count) == 1 && ops.instances("production").filter(\.isRunning).count == 2 },
                        "\(daemon.output)")
            }
            let records = try recordsSince(release, ops)
            #expect(records.map(\.result) == [.interrupted], "\(records.map(\.result))")
            #expect(records.first?.reason?.hasPrefix("Slipway stopped during the heal (done healing: start") == true && records.first?.reason?.contains("refused") == false,
                    "\(records.first?.reason ?? "")")
            #expect(try ops.git(["log", "-1", "--format=%s"]).hasPrefix("heal(production): web 1.0.0 → 1.0.0 interrupted"))
            #expect(fetch(port)?.body == "web 1.0.0\n")
            let registered = Set(ops.instances("production").map(\.id))
            let started = ProcessControl.processes(withEnvironment: ["SLIPWAY_STATE=\(ops.stateDirectory.path)"])
            #expect(Set(started.compactMap { $0.environment["SLIPWAY_INSTANCE"] }) == registered, "orphan processes")
        }
    }

    /// Fills the filesystem holding `directory` with one file of zeros; returns it (removing it frees the space).
    static func fill(_ directory: URL) -> URL {
        let file = directory.appendingPathComponent("filler")
        FileManager.default.createFile(atPath: file.path, contents: nil)
        guard let handle = try? FileHandle(forWritingTo: file) else { return file }
        defer { try? handle.close() }
        // Down to single bytes: a write of a smaller file (a journal) must fail too.
        for size in [1 << 16, 1 << 12, 1 << 9, 1] {
            let chunk = Data(count: size)
            while (try? handle.write(contentsOf: chunk)) != nil {}
        }
        return file
    }

    /// The state directory on a 16 MiB tmpfs, a daemon, and 1.0.0 deployed by it; `body` fills the disk.
    static func onSmallFilesystem(_ body: (OpsRepoFixture, DaemonProcess, Int) async throws -> Void) async throws {
        try await OpsRepoFixture.with { ops in
            try ops.stateOnSmallFilesystem(megabytes: 16)
            let port = try Ports.free()
            try await DaemonProcess.with(ops) { daemon in
                try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
                #expect(try await eventually { try ops.git(["log", "-1", "--format=%s"]).contains("1.0.0 succeeded") }, "\(daemon.output)")
                try await body(ops, daemon, port)
            }
        }
    }

    @Test("the state directory fills during a canary: traffic goes back to 1.0.0 and nothing is marked failed; once space is freed the run is recorded interrupted and the tip deploys")
    func fullStateDirectory() async throws {
        try await Self.onSmallFilesystem { ops, daemon, port in
            let load = LoadClient(port: port, seconds: 120)
            defer { load.stop() }
            let release = try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", listen: port, strategy: "canary: { steps: [50, 100], stepDuration: 6s, analysisInterval: 1s }"))
            // Read from the journal, not `slipway status`: on a loaded machine a debug build's process
            // can take seconds to answer, and the step may have passed before the disk fills.
            let journal = ops.stateDirectory.appendingPathComponent("envs/production/journal.json")
            #expect(await eventually {
                ((try? String(contentsOf: journal, encoding: .utf8)) ?? "").replacingOccurrences(of: "\\/", with: "/").contains("step 1/2: 50% to 2.0.0")
            }, "\(daemon.output)")
            let filler = Self.fill(ops.stateDirectory)

            // The run stops as a kill would stop it: 1.0.0 takes the traffic back, nothing is committed while nothing can be written.
            #expect(await eventually(within: 30) { daemon.output.contains("cannot be written") }, "\(daemon.output)")
            #expect(await eventually(within: 10) { (1...10).allSatisfy { _ in fetch(port)?.body == "web 1.0.0\n" } }, "\(daemon.output)")
            // The run's own new instances are stopped (a stop writes nothing).
            #expect(await eventually(within: 10) { ops.liveVersions("production") == ["1.0.0", "1.0.0"] }, "\(daemon.output)")
            // Recovery, tried again and again while the disk stays full, commits nothing.
            #expect(await eventually(within: 30) { daemon.output.components(separatedBy: "recovery failed").count > 2 }, "\(daemon.output)")
            #expect(try recordsSince(release, ops).isEmpty, "\(daemon.output)")
            #expect(try ops.git(["show", "HEAD:Status/production.md"]).contains("version: 1.0.0"))

            try FileManager.default.removeItem(at: filler)
            #expect(try await eventually(within: 60) { try recordsSince(release, ops).map(\.result) == [.interrupted, .succeeded] }, "\(daemon.output)")
            let records = try recordsSince(release, ops)
            #expect(records.first?.reason?.contains("no space left") == true && records.first?.reason?.contains("NSCocoaErrorDomain") == false,
                    "\(records.first?.reason ?? "")\n\(daemon.output)")
            #expect(records.last?.version == "2.0.0" && records.last?.previousVersion == "1.0.0")
            let status = try ops.git(["show", "HEAD:Status/production.md"])
            #expect(status.contains("version: 2.0.0") && !status.contains("failedVersion"), "\(status)")
            #expect(ops.instances("production").map(\.version) == ["2.0.0", "2.0.0"] && ops.liveVersions("production") == ["2.0.0", "2.0.0"])
            #expect((1...10).allSatisfy { _ in fetch(port)?.body == "web 2.0.0\n" })
            let summary = load.stop()
            #expect(summary.failed == 0, "no request failed while the disk was full: \(summary.errors.prefix(3))")
        }
    }

    @Test("a full state directory before a run: nothing starts and nothing is marked failed; once space is freed the release deploys")
    func fullBeforeRun() async throws {
        try await Self.onSmallFilesystem { ops, daemon, port in
            let filler = Self.fill(ops.stateDirectory)
            let release = try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", listen: port))
            #expect(await eventually(within: 30) { daemon.output.contains("cannot be written") }, "\(daemon.output)")
            #expect(fetch(port)?.body == "web 1.0.0\n" && ops.liveVersions("production") == ["1.0.0", "1.0.0"])
            #expect(try recordsSince(release, ops).isEmpty)
            try await Task.sleep(for: .seconds(3))  // a negative check: the run is tried again after 1 s, 2 s, …, not in a loop
            #expect(daemon.output.contains("not started: the state directory cannot be written"), "\(daemon.output)")
            let tries = daemon.output.components(separatedBy: "the state directory cannot be written").count - 1
            #expect((1...4).contains(tries), "\(tries) tries in about 3 s")
            try FileManager.default.removeItem(at: filler)
            #expect(try await eventually(within: 60) { try recordsSince(release, ops).map(\.result).last == .succeeded }, "\(daemon.output)")
            #expect(fetch(port)?.body == "web 2.0.0\n")
            #expect(!(try ops.git(["show", "HEAD:Status/production.md"]).contains("failedVersion")))
        }
    }

    @Test("a gate fails because the disk filled under it: not the version's failure; once space is freed the run is recorded interrupted and the release deploys")
    func fullDuringGate() async throws {
        try await Self.onSmallFilesystem { ops, daemon, port in
            // The first time, the gate fills the state directory's filesystem and exits 1, as a tool that cannot write would.
            let marker = ops.root.appendingPathComponent("gate-ran"), filler = ops.stateDirectory.appendingPathComponent("gate-filler")
            let script = "[ -e \(marker.path) ] && exit 0; touch \(marker.path); cat /dev/zero > \(filler.path) 2>/dev/null; exit 1"
            let gates = "gates:\n  preflight:\n    - { name: check, command: [\"/bin/sh\", \"-c\", \"\(script)\"] }"
            let release = try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", listen: port, rollback: gates))
            #expect(await eventually(within: 30) { daemon.output.contains("stopped: the state directory cannot be written") }, "\(daemon.output)")
            #expect(fetch(port)?.body == "web 1.0.0\n" && ops.liveVersions("production") == ["1.0.0", "1.0.0"])
            #expect(try recordsSince(release, ops).isEmpty)

            try FileManager.default.removeItem(at: filler)
            #expect(try await eventually(within: 60) { try recordsSince(release, ops).map(\.result) == [.interrupted, .succeeded] }, "\(daemon.output)")
            let reason = try recordsSince(release, ops).first?.reason ?? ""
            #expect(reason.contains("no space left") && reason.contains("gate check failed"), "\(reason)")
            #expect(fetch(port)?.body == "web 2.0.0\n")
            #expect(!(try ops.git(["show", "HEAD:Status/production.md"]).contains("failedVersion")))
        }
    }

    @Test("where no release succeeded yet, a full disk gives the traffic back to the set an earlier stopped run left serving")
    func fullDiskOnStandIns() async throws {
        try await OpsRepoFixture.with { ops in
            try ops.stateOnSmallFilesystem(megabytes: 16)
            let port = try Ports.free()
            let canary = "canary: { steps: [50, 100], stepDuration: 6s, analysisInterval: 1s }"
            let journal = ops.stateDirectory.appendingPathComponent("envs/production/journal.json")
            let inStep = { (step: String) in ((try? String(contentsOf: journal, encoding: .utf8)) ?? "").replacingOccurrences(of: "\\/", with: "/").contains(step) }
            let load = LoadClient(port: port, seconds: 120)
            defer { load.stop() }
            try await DaemonProcess.with(ops) { daemon in
                // 1.0.0, the first release, is stopped by 2.0.0 in its only step: its set is left serving.
                try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port, strategy: canary))
                #expect(await eventually { inStep("step 1/1: 100% to 1.0.0") }, "\(daemon.output)")
                let release = try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", listen: port, strategy: canary))
                #expect(await eventually(within: 30) { inStep("step 1/2: 50% to 2.0.0") }, "\(daemon.output)")
                let filler = Self.fill(ops.stateDirectory)

                #expect(await eventually(within: 30) { daemon.output.contains("1.0.0 takes all the traffic again (2 instance(s))") }, "\(daemon.output)")
                #expect((1...10).allSatisfy { _ in fetch(port)?.body == "web 1.0.0\n" })
                // The 1.0.0 run's own record (superseded) is committed after 2.0.0's release; 2.0.0 has none yet.
                let ofTheRelease = { try recordsSince(release, ops).filter { $0.version == "2.0.0" }.map(\.result) }
                #expect(await eventually(within: 10) { ops.liveVersions("production") == ["1.0.0", "1.0.0"] }, "\(daemon.output)")
                #expect(await eventually(within: 30) { daemon.output.components(separatedBy: "recovery failed").count > 2 }, "\(daemon.output)")
                #expect(try ofTheRelease().isEmpty)

                try FileManager.default.removeItem(at: filler)
                #expect(try await eventually(within: 60) { try ofTheRelease() == [.interrupted, .succeeded] }, "\(daemon.output)")
                #expect(ops.liveVersions("production") == ["2.0.0", "2.0.0"] && fetch(port)?.body == "web 2.0.0\n")
            }
        }
    }

    @Test("a branch lock left by a process killed mid-update does not block the record commit")
    func staleRefLock() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
            // What git or Slipway killed between writing a ref's lock file and renaming it leaves behind.
            let lock = ops.workTree.appendingPathComponent(".git/refs/heads/main.lock")
            try Data((try ops.git(["rev-parse", "HEAD"])).utf8).write(to: lock)
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-60)], ofItemAtPath: lock.path)
            let applied = try ops.slipway(["apply"])
            #expect(applied.status == 0, "\(applied.output)")
            #expect(try ops.lastRecord().result == .succeeded)
            #expect(!FileManager.default.fileExists(atPath: lock.path))
        }
    }

    /// Whether `process` holds a pidfd on `pid` (`Pid:` in the descriptor's fdinfo).
    static func watches(_ process: pid_t, _ pid: pid_t) -> Bool {
        let folder = "/proc/\(process)/fdinfo"
        return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).contains { fd in
            ((try? String(contentsOfFile: "\(folder)/\(fd)", encoding: .utf8)) ?? "").split(separator: "\n").contains("Pid:\t\(pid)")
        }
    }

    /// Records committed after `commit` on the branch, oldest first.
    func recordsSince(_ commit: String, _ ops: OpsRepoFixture) throws -> [DeploymentRecord] {
        let paths = try ops.git(["log", "--reverse", "--format=", "--name-only", "--diff-filter=A", "\(commit)..HEAD", "--", "Deployments"])
        return try paths.split(separator: "\n").map { path in
            try RecordTemplates.parseRecord(try ops.git(["show", "HEAD:\(path)"]))
        }
    }
}
