import Foundation
import Testing
@testable import SlipwayRecords
@testable import SlipwayHost
#if canImport(Glibc)
import Glibc
#endif

/// Deployments to a fleet (README, "Many machines") end to end: `slipway apply` reaches hosts
/// that are network namespaces with a real sshd each (`FleetFixture`), through the real ssh
/// client, with host keys pinned in the ops repo's signed `Trust/known_hosts`. Instances are
/// the demo service on each host; HAProxy on this machine balances across the hosts.
@Suite("fleet: deployments over ssh", .serialized,
       .enabled(if: FleetFixture.unavailable == nil, "skipped: needs root, ip, sshd, ssh-agent and unshare (FleetFixture.unavailable says which)"))
struct FleetDeploymentTests {
    /// A fleet and an ops repo whose `Trust/` pins the fleet's host keys, with `1.0.0` released on
    /// every host when `release` is set.
    static func with(hosts count: Int, release strategy: String? = "rolling: { batchSize: 1 }",
                     _ body: (FleetFixture, OpsRepoFixture, FleetRelease) async throws -> Void) async throws {
        try await FleetFixture.with(hosts: count) { fleet in
            try await OpsRepoFixture.with { ops in
                let alice = try ops.sshKey("alice")
                try ops.commit("Trust/allowed_signers", alice.signer + "\n", signedWith: alice.key)
                try ops.commit("Trust/known_hosts", try String(contentsOf: fleet.knownHosts, encoding: .utf8), signedWith: alice.key)
                let release = FleetRelease(fleet: fleet, ops: ops, signer: alice.key, port: try Ports.free())
                if let strategy {
                    let first = try release.apply(version: "1.0.0", strategy: strategy)
                    #expect(first.status == 0, "\(first.output)")
                }
                try await body(fleet, ops, release)
            }
        }
    }

    @Test("rolling over 4 hosts with bootLimit 2 under steady load: no failed request, every host on the new version, a row per host in the record")
    func rollingOverHosts() async throws {
        try await Self.with(hosts: 4) { fleet, ops, release in
            let load = LoadClient(port: release.port, seconds: 120)
            var summary: LoadClient.Summary?
            defer { if summary == nil { _ = load.stop() } }
            #expect(await eventually { fetch(release.port)?.body == "web 1.0.0\n" }, "the front serves 1.0.0 before the release")
            let applied = try release.apply(version: "2.0.0", strategy: "rolling: { batchSize: 1 }", bootLimit: 2)
            summary = load.stop()
            #expect(applied.status == 0, "\(applied.output)")
            #expect(summary?.failed == 0, "\(summary?.errors.prefix(5) ?? [])")
            #expect((summary?.succeeded ?? 0) > 50)

            let instances = ops.instances("production")
            #expect(Set(instances.compactMap(\.host)) == Set(fleet.hosts.map(\.address)) && instances.count == 4, "one instance per host: \(instances)")
            for instance in instances {
                #expect(try RawHTTP.get(host: instance.reachableAt, port: instance.port, path: "/").body == "web 2.0.0\n", "\(instance.id) on \(instance.host ?? "")")
            }
            let text = try ops.git(["show", "HEAD:\(try ops.lastRecordPath())"])
            for host in fleet.hosts { #expect(text.contains("| \(host.address) | 1 | 2.0.0 | updated |"), "a row for \(host.address): \(text)") }
            #expect(text.contains("batch 1/2 (\(fleet.hosts[0].address), \(fleet.hosts[1].address))"), "batches of two hosts")
            let record = try ops.lastRecord()
            #expect(record.result == .succeeded)
            // Post-deploy read every instance's CPU and memory on its host, over ssh.
            #expect(record.resources?.new?.instances == 4 && (record.resources?.new?.residentBytes ?? 0) > 1 << 20, "\(String(describing: record.resources))")
        }
    }

    @Test("canary across 3 hosts with a version answering 30% 5xx: rolled back on every host, the previous version serving everywhere")
    func canaryRollsBackEverywhere() async throws {
        try await Self.with(hosts: 3) { fleet, ops, release in
            let load = LoadClient(port: release.port, seconds: 120)
            defer { _ = load.stop() }
            let canary = "canary: { steps: [34, 100], stepDuration: 4s, analysisInterval: 1s }"
            let applied = try release.apply(version: "2.0.0", strategy: canary, extra: ["--error-rate", "0.3"],
                                            rollback: "rollback: { minRequests: 5 }")
            #expect(applied.status != 0)
            let record = try ops.lastRecord()
            #expect(record.result == .rolledBack && record.rollback?.trigger == .errorRate, "\(record.reason ?? "")")
            let usage = record.analysis.last?.resources
            #expect(usage?.new?.instances == 3 && usage?.previous?.instances == 3, "both versions read on all 3 hosts: \(String(describing: usage))")
            let instances = ops.instances("production")
            #expect(instances.allSatisfy { $0.version == "1.0.0" } && Set(instances.compactMap(\.host)) == Set(fleet.hosts.map(\.address)),
                    "1.0.0 on every host, nothing of 2.0.0: \(instances.map { "\($0.version)@\($0.host ?? "")" })")
            #expect(fetch(release.port)?.body == "web 1.0.0\n")
        }
    }

    @Test("blue-green across 3 hosts: the whole fleet switches in one runtime-API exchange, the previous set stays warm on its hosts, and going back reuses it, starting nothing")
    func blueGreenAcrossHosts() async throws {
        let blueGreen = "blueGreen: { keepPrevious: 5m }"
        try await Self.with(hosts: 3, release: blueGreen) { fleet, ops, release in
            let before = Set(ops.instances("production").map(\.id))
            let applied = try release.apply(version: "2.0.0", strategy: blueGreen)
            #expect(applied.status == 0, "\(applied.output)")
            let text = try ops.git(["show", "HEAD:\(try ops.lastRecordPath())"])
            #expect(text.contains("one runtime-API exchange") && text.contains("3 new at 100%, 3 previous at 0%"), "\(text)")
            let instances = ops.instances("production")
            let warm = instances.filter { $0.warmUntil != nil }, serving = instances.filter { $0.warmUntil == nil }
            #expect(Set(warm.map(\.id)) == before && warm.allSatisfy { $0.version == "1.0.0" }, "the previous set is kept warm")
            #expect(Set(serving.compactMap(\.host)) == Set(fleet.hosts.map(\.address)) && serving.allSatisfy { $0.version == "2.0.0" })
            #expect(await eventually { fetch(release.port)?.body == "web 2.0.0\n" })

            let back = try release.apply(version: "1.0.0", strategy: blueGreen)
            #expect(back.status == 0, "\(back.output)")
            #expect(try ops.git(["show", "HEAD:\(try ops.lastRecordPath())"]).contains("reuse the warm set of 1.0.0"))
            #expect(Set(ops.instances("production").filter { $0.warmUntil == nil }.map(\.id)) == before, "the same instances serve again: nothing was started")
            #expect(await eventually { fetch(release.port)?.body == "web 1.0.0\n" })
        }
    }

    @Test("a host whose sshd and instances are killed during the rollout: the fleet goes back to the previous version, hosts already switched included")
    func hostLostDuringRollout() async throws {
        try await Self.with(hosts: 3) { fleet, ops, release in
            let log = ops.root.appendingPathComponent("apply.log")
            try release.commit(version: "2.0.0", strategy: "rolling: { batchSize: 1 }", bootLimit: 1, bootWait: "4s")
            let apply = try Command.background([Command.slipway.path, "apply", "--repo", ops.repo.path], environment: ProcessInfo.processInfo.environment.merging(release.environment) { $1 }, log: log)
            var status: Int32?
            defer { if status == nil { kill(apply, SIGKILL); waitpid(apply, nil, 0) } }
            // Batch 1 done (host 1 on 2.0.0, in the pause before batch 2): the last host goes down.
            #expect(await eventually(within: 60) { ops.instances("production").contains { $0.version == "2.0.0" } && ops.instances("production").count == 3 })
            fleet.stopHost(fleet.hosts[2])
            #expect(await eventually(within: 120) { status = Self.exitStatus(apply); return status != nil }, "apply ends")
            let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            #expect(status != 0, "\(output)")
            let record = try ops.lastRecord()
            #expect([.rolledBack, .failed].contains(record.result) && record.reason?.contains(fleet.hosts[2].address) == true, "\(record.reason ?? "")")
            let instances = ops.instances("production")
            #expect(!instances.contains { $0.version == "2.0.0" }, "no host keeps 2.0.0: \(instances.map { "\($0.version)@\($0.host ?? "")" })")
            for host in fleet.hosts.prefix(2) {
                let here = instances.filter { $0.host == host.address }
                #expect(here.count == 1, "\(host.address) runs the previous version again")
                for instance in here { #expect((try? RawHTTP.get(host: instance.reachableAt, port: instance.port, path: "/"))?.body == "web 1.0.0\n") }
            }
            #expect(await eventually { fetch(release.port)?.body == "web 1.0.0\n" })
        }
    }

    @Test("a host whose key changed is refused before anything starts: the pinned Trust/known_hosts decides, the release fails, nothing changes anywhere")
    func changedHostKey() async throws {
        try await Self.with(hosts: 2) { fleet, ops, release in
            let before = ops.instances("production")
            var fleet = fleet
            try fleet.newHostKey(fleet.hosts[1])
            fleet.stopHost(fleet.hosts[1])
            fleet.hosts[1].sshd = try fleet.startSSHD(fleet.hosts[1])
            #expect(await eventually { FleetFixture.listening(fleet.hosts[1]) })
            // Connections already open are not asked for the key again: a new controller state would be, so close them.
            try? FileManager.default.removeItem(at: ops.stateDirectory.appendingPathComponent("ssh"))
            let applied = try release.apply(version: "2.0.0", strategy: "rolling: { batchSize: 1 }")
            #expect(applied.status != 0)
            let record = try ops.lastRecord()
            #expect(record.result == .failed, "\(record.reason ?? "")")
            #expect(record.reason?.contains("\(fleet.hosts[1].address): unreachable (Host key verification failed.)") == true, "\(record.reason ?? "")")
            #expect(record.reason?.contains("nothing was started") == true)
            #expect(ops.instances("production").map(\.id) == before.map(\.id), "nothing started or stopped")
            #expect(fetch(release.port)?.body == "web 1.0.0\n")
        }
    }

    @Test("a host down before the run: pre-flight names it, and with minHealthyHosts 50% the release goes on with the others; the record says why it was left out")
    func hostDownBeforeTheRun() async throws {
        try await Self.with(hosts: 3) { fleet, ops, release in
            fleet.stopHost(fleet.hosts[2])
            var lenient = release
            lenient.minHealthyHosts = "50%"
            let applied = try lenient.apply(version: "2.0.0", strategy: "rolling: { batchSize: 1 }")
            #expect(applied.status == 0, "\(applied.output)")
            let instances = ops.instances("production")
            for host in fleet.hosts.prefix(2) {
                #expect(instances.filter { $0.host == host.address }.map(\.version) == ["2.0.0"], "\(host.address) was updated")
            }
            let text = try ops.git(["show", "HEAD:\(try ops.lastRecordPath())"])
            #expect(text.contains("| \(fleet.hosts[2].address) | 1 | 1.0.0 | left out by pre-flight: unreachable ("), "\(text)")
            #expect(await eventually { fetch(release.port)?.body == "web 2.0.0\n" })
        }
    }

    @Test("run.artifact: a program committed to the ops repo is checked against its sha256, copied once to each host, checked there, and run; a wrong sha256 fails pre-flight and copies nothing")
    func artifact() async throws {
        try await Self.with(hosts: 2) { fleet, ops, release in
            let demo = Command.productsDirectory.appendingPathComponent("slipway-demo-service").path
            let script = "#!/bin/sh\nexec \(demo) --host 0.0.0.0 \"$@\"\n"
            try ops.commit("bin/web", script, signedWith: release.signer)
            let sum = try Command.run(URL(fileURLWithPath: "/usr/bin/sha256sum"), [], input: Data(script.utf8)).stdout.prefix(64)
            let folder = "\(fleet.remoteState.path)/production/artifacts"

            var wrong = release
            wrong.artifact = ("bin/web", String(repeating: "0", count: 64))
            #expect(try wrong.apply(version: "2.0.0", strategy: "rolling: { batchSize: 1 }").status != 0)
            let refused = try ops.lastRecord().reason ?? ""
            #expect(refused.contains("run.artifact: bin/web has sha256 \(sum), the manifest names 0000"), "\(refused)")
            for host in fleet.hosts {
                #expect(try await release.remote(host).ssh.run(SSHDestination(host: host.address, user: "root"), ["test", "-e", folder], timeout: .seconds(120)).status == 1)
            }

            var right = release
            right.artifact = ("bin/web", String(sum))
            let applied = try right.apply(version: "3.0.0", strategy: "rolling: { batchSize: 1 }")
            #expect(applied.status == 0, "\(applied.output)")
            for instance in ops.instances("production") {
                #expect((try? RawHTTP.get(host: instance.reachableAt, port: instance.port, path: "/"))?.body == "web 3.0.0\n", "\(instance.id) runs the artifact")
            }
            for host in fleet.hosts {
                let placed = try await release.remote(host).ssh.run(SSHDestination(host: host.address, user: "root"), ["test", "-x", "\(folder)/\(sum)"], timeout: .seconds(120))
                #expect(placed.status == 0, "the artifact is on \(host.address)")
            }
            #expect(try ops.git(["show", "HEAD:\(try ops.lastRecordPath())"]).contains("copied to 2 host(s), already on 0"))
            let again = try right.apply(version: "3.0.1", strategy: "rolling: { batchSize: 1 }")
            #expect(again.status == 0, "\(again.output)")
            #expect(try ops.git(["show", "HEAD:\(try ops.lastRecordPath())"]).contains("copied to 0 host(s), already on 2"), "once per host and content")
        }
    }

    @Test("the controller SIGKILLed mid-fleet: the next apply finds the instances on the hosts, writes one interrupted record and converges, no orphan on any host")
    func controllerKilledMidFleet() async throws {
        try await Self.with(hosts: 3) { fleet, ops, release in
            let releaseCommit = try release.commit(version: "2.0.0", strategy: "rolling: { batchSize: 1 }", bootLimit: 1)
            var environment = release.environment
            environment["SLIPWAY_FAILPOINT"] = "done production: batch 1/3"
            let killed = try Command.run(Command.slipway, ["apply", "--repo", ops.repo.path], environment: environment)
            #expect(killed.status == 137, "killed by SIGKILL: \(killed.output)")
            #expect(fetch(release.port)?.status == 200, "HAProxy serves while no Slipway runs")

            let again = try ops.slipway(["apply"], environment: release.environment)
            #expect(again.status == 0, "\(again.output)")
            let records = try ops.git(["log", "--format=%H", "\(releaseCommit)..HEAD"]).split(separator: "\n").reversed().compactMap { commit in
                (try? ops.git(["show", "--name-only", "--format=", String(commit)]))?.split(separator: "\n").first { $0.hasPrefix("Deployments/") }
                    .flatMap { try? RecordTemplates.parseRecord(try ops.git(["show", "\(commit):\($0)"])) }
            }
            #expect(records.map(\.result) == [.interrupted, .succeeded], "\(records.map { "\($0.result): \($0.reason ?? "")" })")
            let instances = ops.instances("production")
            #expect(instances.count == 3 && instances.allSatisfy { $0.version == "2.0.0" }, "\(instances.map { "\($0.version)@\($0.host ?? "")" })")
            // Each host's own registry holds exactly what this machine's registry says runs there.
            for host in fleet.hosts {
                let listed = try await release.remote(host).list()
                #expect(Set(listed.filter(\.running).map(\.id)) == Set(instances.filter { $0.host == host.address }.map(\.id)), "no orphan on \(host.address): \(listed)")
            }
        }
    }

    static func exitStatus(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}

/// Releases of `web` to the fleet, signed, applied with the fixture's ssh agent.
struct FleetRelease {
    let fleet: FleetFixture
    let ops: OpsRepoFixture
    let signer: String
    let port: Int

    var environment: [String: String] { ["SSH_AUTH_SOCK": fleet.agentSocket.path] }

    /// Hosts that must answer for a run to start (`minHealthyHosts`).
    var minHealthyHosts = "100%"
    /// `run.artifact`, run as `{artifact}` in place of the demo service.
    var artifact: (file: String, sha256: String)?

    func manifest(version: String, strategy: String, bootLimit: Int, bootWait: String, extra: [String], rollback: String) -> String {
        let demo = Command.productsDirectory.appendingPathComponent("slipway-demo-service").path
        let program = artifact == nil ? [demo, "--host", "0.0.0.0"] : ["{artifact}"]
        let command = (program + ["--port", "{port}", "--version", "{version}"] + extra).map { "\"\($0)\"" }.joined(separator: ", ")
        let placed = artifact.map { ", artifact: { file: \($0.file), sha256: \($0.sha256) }" } ?? ""
        return """
            service: web
            version: "\(version)"
            run: { command: [\(command)], replicas: 1, stopTimeout: 2s\(placed) }
            target:
              kind: ssh
              user: root
              hosts: [\(fleet.hosts.map(\.address).joined(separator: ", "))]
              bootLimit: \(bootLimit)
              bootWait: \(bootWait)
              minHealthyHosts: \(minHealthyHosts)
              stateDirectory: \(fleet.remoteState.path)
            traffic: { listen: "127.0.0.1:\(port)" }
            health: { http: { path: /healthz, expect: 200 }, interval: 200ms, timeout: 500ms, healthyThreshold: 1, startTimeout: 20s }
            strategy:
              \(strategy)
            \(rollback)

            """
    }

    @discardableResult
    func commit(version: String, strategy: String, bootLimit: Int = 1, bootWait: String = "0s", extra: [String] = [], rollback: String = "") throws -> String {
        try ops.commit("Environments/production.yaml",
                       manifest(version: version, strategy: strategy, bootLimit: bootLimit, bootWait: bootWait, extra: extra, rollback: rollback),
                       signedWith: signer, message: "release \(version)")
    }

    func apply(version: String, strategy: String, bootLimit: Int = 1, extra: [String] = [], rollback: String = "") throws -> CommandResult {
        try commit(version: version, strategy: strategy, bootLimit: bootLimit, extra: extra, rollback: rollback)
        return try ops.slipway(["apply"], environment: environment)
    }

    /// The environment's registry on `host`, read with the fixture's own ssh client.
    func remote(_ host: FleetFixture.Host) -> RemoteInstances {
        RemoteInstances(ssh: SSHClient(controlDirectory: fleet.root.appendingPathComponent("test-ssh"), knownHosts: fleet.knownHosts,
                                       environment: ["HOME": NSHomeDirectory(), "PATH": "/usr/bin:/bin", "SSH_AUTH_SOCK": fleet.agentSocket.path]),
                        destination: SSHDestination(host: host.address, user: "root"), directory: "\(fleet.remoteState.path)/production")
    }
}
