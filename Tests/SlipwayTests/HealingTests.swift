import Foundation
import Testing
@testable import SlipwayRecords
@testable import SlipwayHost
#if canImport(Glibc)
import Glibc
#endif

/// Between releases the daemon keeps what runs equal to what git says (README, "Healing").
@Suite("healing: production stays as git says between releases", .serialized)
struct HealingTests {
    func records(_ ops: OpsRepoFixture) throws -> [String] {
        try ops.git(["log", "--format=%s", "--grep", "Slipway-Result:"]).split(separator: "\n").map(String.init)
    }

    func running(_ ops: OpsRepoFixture) -> [InstanceRecord] { ops.instances("production").filter(\.isRunning) }
    /// The instance started last: the one a crash loop kills again (on a slow run the first one may be past a minute old, and settled).
    func youngest(_ ops: OpsRepoFixture) -> InstanceRecord? { running(ops).max { $0.startedAt < $1.startedAt } }

    @Test("an exited instance is replaced and a killed HAProxy restarted, one healed record each; a crash loop is reported once and left alone")
    func heals() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try await DaemonProcess.with(ops) { daemon in
                try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
                #expect(try await eventually { try records(ops).count == 1 }, "\(daemon.output)")

                let victim = try #require(running(ops).first)
                kill(victim.process.pid, SIGKILL)
                #expect(try await eventually { try records(ops).count == 2 }, "\(daemon.output)")
                #expect(try records(ops).first == "heal(production): web 1.0.0 → 1.0.0 healed")
                let healed = try ops.lastRecord()
                #expect(healed.reason?.contains("1 instance(s) had exited (\(victim.id))") == true, "\(healed.reason ?? "")")
                #expect(running(ops).count == 2 && !running(ops).contains { $0.id == victim.id })
                #expect(fetch(port)?.body == "web 1.0.0\n")
                #expect(try ops.git(["show", "HEAD:Status/production.md"]).contains("lastResult: healed"))

                let pidFile = ops.stateDirectory.appendingPathComponent("envs/production/haproxy/haproxy.pid")
                let haproxy = try #require(Int32(String(contentsOf: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
                kill(haproxy, SIGKILL)
                #expect(try await eventually { try records(ops).count == 3 }, "\(daemon.output)")
                #expect(try ops.lastRecord().reason?.contains("the front (HAProxy) was not running") == true)
                #expect(fetch(port)?.body == "web 1.0.0\n", "the front serves again")

                // A stopped HAProxy says nothing against the version; instances dying within a minute of their start do:
                // the second and third such heals still happen (after a backoff), the fourth is a crash loop.
                kill(try #require(youngest(ops)).process.pid, SIGKILL)
                #expect(try await eventually { try records(ops).count == 4 }, "\(daemon.output)")
                kill(try #require(youngest(ops)).process.pid, SIGKILL)
                #expect(try await eventually { try records(ops).count == 5 }, "\(daemon.output)")
                #expect(try ops.lastRecord().result == .healed)
                kill(try #require(youngest(ops)).process.pid, SIGKILL)
                #expect(try await eventually { try records(ops).count == 6 }, "\(daemon.output)")
                let loop = try ops.lastRecord()
                #expect(loop.result == .failed && loop.reason?.contains("crash loop") == true, "\(loop.reason ?? "")")
                #expect(try records(ops).first == "heal(production): web 1.0.0 → 1.0.0 failed")
                kill(try #require(running(ops).first).process.pid, SIGKILL)
                try await Task.sleep(for: .seconds(3))  // a negative check: heal passes in which nothing may be restarted or recorded
                #expect(try records(ops).count == 6 && running(ops).isEmpty)

                // A release starts afresh.
                try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", listen: port))
                #expect(try await eventually { try records(ops).count == 7 }, "\(daemon.output)")
                #expect(try ops.lastRecord().version == "2.0.0")
                #expect(try ops.lastRecord().result == .succeeded && running(ops).count == 2)
                #expect(daemon.exitStatus() == nil)
            }
        }
    }

    @Test("a heal keeps what the last run remembered: a failed release is not tried again because the running version was healed")
    func keepsFailure() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try await DaemonProcess.with(ops) { daemon in
                try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
                #expect(try await eventually { try records(ops).count == 1 }, "\(daemon.output)")
                try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", listen: port, extraArguments: ["--fail-health"], startTimeout: "1s"))
                #expect(try await eventually { try records(ops).count == 2 }, "\(daemon.output)")
                #expect(try ops.lastRecord().result == .failed)

                kill(try #require(running(ops).first).process.pid, SIGKILL)
                #expect(try await eventually { try records(ops).count == 3 }, "\(daemon.output)")
                #expect(try ops.lastRecord().result == .healed)
                #expect(try ops.git(["show", "HEAD:Status/production.md"]).contains("failedVersion: 2.0.0"))
                try await Task.sleep(for: .seconds(2))  // a negative check: passes in which 2.0.0 may not be tried again
                let after = try records(ops)
                #expect(after.count == 3, "\(after)")
                #expect(fetch(port)?.body == "web 1.0.0\n")
            }
        }
    }

    @Test("suspend leaves an environment as it is (nothing healed, nothing deployed) until resume; both are commits that say who and why")
    func suspendAndResume() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try await DaemonProcess.with(ops) { daemon in
                try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
                #expect(try await eventually { try records(ops).count == 1 }, "\(daemon.output)")
                let down = try ops.slipway(["down", "production"])
                #expect(down.status == 1 && down.stderr.contains("stop the daemon first"), "\(down.output)")

                let suspend = try ops.slipway(["suspend", "production", "--reason", "DB maintenance until 14:00", "--by", "Sam <sam@example.com>"])
                #expect(suspend.status == 0, "\(suspend.output)")
                #expect(try ops.git(["log", "-1", "--format=%an|%s"]) == "Sam|suspend(production): DB maintenance until 14:00\n")
                #expect(try ops.slipway(["plan"]).stdout.contains("production: suspended — suspended: DB maintenance until 14:00 (Sam,"))
                kill(try #require(running(ops).first).process.pid, SIGKILL)
                try ops.commit("Environments/production.yaml", try ops.git(["show", "HEAD:Environments/production.yaml"])
                    .replacingOccurrences(of: "version: \"1.0.0\"", with: "version: \"2.0.0\""))
                try await Task.sleep(for: .seconds(3))  // a negative check: passes and heal looks in which nothing may happen
                #expect(try records(ops).count == 1 && running(ops).count == 1, "left as it is")

                let rollback = try ops.slipway(["rollback", "production", "--by", "Sam <sam@example.com>"])
                #expect(rollback.status == 1 && rollback.stderr.contains("production is suspended"), "a rollback does not end the pause unseen: \(rollback.output)")
                #expect(try ops.slipway(["resume", "production", "--by", "Sam <sam@example.com>"]).status == 0)
                #expect(try await eventually { try records(ops).count == 2 }, "\(daemon.output)")
                #expect(try ops.lastRecord().version == "2.0.0" && fetch(port)?.body == "web 2.0.0\n")
                #expect(!(try ops.git(["show", "HEAD:Environments/production.yaml"]).contains("suspended")))
            }
        }
    }

    @Test("deleting a manifest stops its environment (HAProxy and instances), recorded removed; nothing heals it after; adding it back deploys it anew")
    func removal() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try await DaemonProcess.with(ops) { daemon in
                try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
                #expect(try await eventually { try records(ops).count == 1 }, "\(daemon.output)")
                #expect(fetch(port)?.status == 200)

                try ops.commit("Environments/production.yaml", nil, signedWith: nil, message: "Retire production")  // the daemon is idle: no lock to wait for
                #expect(try await eventually { try records(ops).count == 2 }, "\(daemon.output)")
                #expect(try records(ops).first == "remove(production): web 1.0.0 stopped, its manifest deleted")
                let record = try ops.lastRecord()
                #expect(record.result == .removed && record.triggerSubject == "Retire production", "\(record.reason ?? "")")
                #expect(record.reason?.contains("HAProxy and 2 instance(s) of 1.0.0 stopped") == true, "\(record.reason ?? "")")
                #expect(running(ops).isEmpty && ops.instances("production").isEmpty)
                #expect(fetch(port) == nil, "nothing listens on production's address any more")
                let status = try ops.git(["show", "HEAD:Status/production.md"])
                #expect(status.contains("lastResult: removed") && !status.contains("version: 1.0.0"), "\(status)")
                let shown = try ops.slipway(["status"])
                #expect(!shown.stdout.contains("production"), "a removed environment is no orphan: \(shown.output)")

                try await Task.sleep(for: .seconds(3))  // a negative check: heal passes in which nothing may be restarted or recorded
                #expect(try records(ops).count == 2 && running(ops).isEmpty && fetch(port) == nil)

                try ops.commit("Environments/production.yaml", testManifest(version: "2.0.0", listen: port))
                #expect(try await eventually { try records(ops).count == 3 }, "\(daemon.output)")
                #expect(try ops.lastRecord().result == .succeeded && ops.lastRecord().previousVersion == nil)
                #expect(fetch(port)?.body == "web 2.0.0\n")
                #expect(daemon.exitStatus() == nil)
            }
        }
    }

    @Test("a stopped HAProxy whose address another program took waits, recording nothing, and comes back once the address is free")
    func frontWaitsForItsAddress() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free()
            try await DaemonProcess.with(ops) { daemon in
                try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
                #expect(try await eventually { try records(ops).count == 1 }, "\(daemon.output)")
                let pidFile = ops.stateDirectory.appendingPathComponent("envs/production/haproxy/haproxy.pid")
                let haproxy = try #require(Int32(String(contentsOf: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
                // Someone takes the address the moment HAProxy is gone: the daemon is paused (SIGSTOP) so that it is not faster.
                kill(daemon.pid, SIGSTOP)
                kill(haproxy, SIGKILL)
                var squatter: Int32 = -1
                #expect(await eventually {
                    squatter = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)  // no child of this process (another suite's) may keep the address
                    var yes: Int32 = 1
                    setsockopt(squatter, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))  // past TIME_WAIT connections
                    var address = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: in_port_t(UInt16(port).bigEndian),
                                              sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
                    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(squatter, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
                    if bound == 0, listen(squatter, 8) == 0 { return true }
                    close(squatter)
                    return false
                })
                defer { if squatter >= 0 { close(squatter) } }
                kill(daemon.pid, SIGCONT)
                #expect(await eventually { daemon.output.contains("held: the front cannot start while its address is taken") }, "\(daemon.output)")
                try await Task.sleep(for: .seconds(3))  // a negative check: heal passes in which nothing may be recorded
                let meanwhile = try records(ops)
                #expect(meanwhile.count == 1, "no record while the address is taken: \(meanwhile)")
                close(squatter)
                squatter = -1
                #expect(try await eventually { try records(ops).count == 2 }, "\(daemon.output)")
                #expect(try ops.lastRecord().result == .healed && fetch(port)?.body == "web 1.0.0\n")
            }
        }
    }
}
