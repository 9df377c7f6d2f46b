import Foundation
import Logging
import Synchronization
@testable import SlipwayEngine
@testable import SlipwayManifest
@testable import SlipwayRecords
@testable import SlipwayHost
@testable import SlipwayTraffic
import SlipwayCore

/// Instances in memory: what a strategy starts, stops and keeps warm, with no process behind
/// them. `dies` names instances (by start order, from 1) that exit as soon as they start.
/// With `hosts`, a fleet: a host in `unreachable` starts and stops nothing, and what ran
/// there no longer runs (a host whose sshd and instances were killed).
final class FakeTarget: Target {
    let instancesStarted = Mutex<[InstanceRecord]>([])
    let stopped = Mutex<Set<String>>([])
    let count = Mutex(0)
    let dies: Set<Int>
    let hosts: [String?]
    let unreachable = Mutex<Set<String>>([])
    /// What a running instance uses now (nil: not readable); `use(_:)` sets it by version.
    let usageOf = Mutex<@Sendable (InstanceRecord) -> ResourceSample?>({ _ in nil })

    func use(_ byVersion: [String: ResourceSample]) { usageOf.withLock { $0 = { byVersion[$0.version] } } }

    /// Once this many instances were started, this host stops answering.
    let downAfter: (starts: Int, host: String)?

    init(dies: Set<Int> = [], hosts: [String?] = [nil], downAfter: (starts: Int, host: String)? = nil) {
        (self.dies, self.hosts, self.downAfter) = (dies, hosts, downAfter)
    }

    /// Puts `count` instances of `version` in place as the running baseline (`count` per host on a fleet).
    func baseline(_ count: Int, version: String, blob: ObjectID) -> [InstanceRecord] {
        hosts.flatMap { host in (0..<count).map { _ in record(version: version, blob: blob, host: host) } }
    }

    private func record(version: String, blob: ObjectID, host: String?) -> InstanceRecord {
        let number = count.withLock { $0 += 1; return $0 }
        let instance = InstanceRecord(id: "\(version)-\(number)", version: version, port: 40_000 + number,
                                      process: ProcessIdentity(pid: Int32(number), startTime: 1), logFile: "/dev/null", manifest: blob, startedAt: Date(),
                                      remote: host.map { RemoteHost(destination: SSHDestination(host: $0), address: $0, directory: "fleet") })
        instancesStarted.withLock { $0.append(instance) }
        if dies.contains(number) { stopped.withLock { _ = $0.insert(instance.id) } }
        return instance
    }

    func start(_ launcher: InstanceLauncher, on host: String?) async throws -> InstanceRecord {
        if let host, unreachable.withLock({ $0.contains(host) }) { throw LaunchError("ssh: connect to host \(host): Connection refused") }
        let instance = record(version: launcher.manifest.version, blob: launcher.manifestBlob, host: host)
        if let downAfter, count.withLock({ $0 }) >= downAfter.starts { unreachable.withLock { _ = $0.insert(downAfter.host) } }
        return instance
    }

    func stop(_ instance: InstanceRecord, timeout: Duration) async throws {
        if let host = instance.host, unreachable.withLock({ $0.contains(host) }) { throw LaunchError("ssh: connect to host \(host): Connection refused") }
        stopped.withLock { _ = $0.insert(instance.id) }
        instancesStarted.withLock { $0.removeAll { $0.id == instance.id } }
    }

    func instances() -> [InstanceRecord] { instancesStarted.withLock { $0 } }
    func forgetStopped() throws -> [InstanceRecord] { running(instances()) }

    func setWarm(_ ids: Set<String>, until: Date?) throws {
        instancesStarted.withLock { list in
            for index in list.indices where ids.contains(list[index].id) { list[index].warmUntil = until }
        }
    }

    func running(_ instances: [InstanceRecord]) -> [InstanceRecord] {
        let stopped = self.stopped.withLock { $0 }, unreachable = self.unreachable.withLock { $0 }
        return instances.filter { !stopped.contains($0.id) && !unreachable.contains($0.host ?? "") }
    }
    func usage(of instances: [InstanceRecord]) -> [String: ResourceSample] {
        let usage = usageOf.withLock { $0 }
        return Dictionary(running(instances).compactMap { instance in usage(instance).map { (instance.id, $0) } }, uniquingKeysWith: { first, _ in first })
    }
    func log(of instance: InstanceRecord, redactor: Redactor) -> InstanceLog { InstanceLog(instance: instance.id, lines: ["(fake)"]) }
    func stopUnregistered(timeout: Duration) async -> String { "none" }

    /// Ids of the instances that run now, by version.
    func running(_ version: String) -> [String] { running(instances().filter { $0.version == version }).map(\.id) }
}

/// What one server serves between two readings of the fake balancer.
struct Served: Sendable {
    var requests = 0
    var errors = 0
    var milliseconds = 5
    var health: ServerStats.Health = .up
}

/// A balancer in memory: weights, and counters that grow on every `stats()` by what
/// `serve(server, reading)` says a server with weight above 0 served since the last reading.
actor FakeTraffic: TrafficProvider {
    private(set) var weights: [String: Int] = [:]
    private var counters: [String: (responses: Int, errors: Int)] = [:]
    private var reading = 0
    private(set) var previewed: [String] = []
    let serve: @Sendable (_ server: String, _ reading: Int) -> Served

    init(serve: @escaping @Sendable (_ server: String, _ reading: Int) -> Served = { _, _ in Served(requests: 100) }) {
        self.serve = serve
    }

    func ensureRunning(_ settings: FrontSettings, servers: [BackendServer: Int]) async throws {}
    func add(_ server: BackendServer) async throws { weights[server.name] = 0 }
    func setWeights(_ weights: [String: Int]) async throws { self.weights.merge(weights) { _, new in new } }
    func drain(_ name: String) async throws { weights[name] = 0 }
    func remove(_ name: String) async throws { weights[name] = nil }
    func preview(_ servers: [BackendServer]) async throws { previewed = servers.map(\.name) }
    nonisolated var isRunning: Bool { true }
    nonisolated var processID: Int32? { nil }
    func stop() async {}

    func stats() async throws -> [ServerStats] {
        reading += 1
        return weights.keys.sorted().map { name in
            let served = serve(name, reading)
            if (weights[name] ?? 0) > 0 {
                counters[name, default: (0, 0)].responses += served.requests
                counters[name, default: (0, 0)].errors += served.errors
            }
            let count = counters[name] ?? (0, 0)
            return ServerStats(name: name, health: served.health, weight: weights[name] ?? 0, currentSessions: 0, responses: count.responses,
                               serverErrors: count.errors, responseTimeMilliseconds: served.milliseconds, checkStatus: "L7OK")
        }
    }

    func weight(_ name: String) -> Int? { weights[name] }
}

/// One strategy run against the fakes: 1.0.0 runs (`baseline` instances), 2.0.0 is deployed.
struct StrategyBench {
    let target: FakeTarget
    let traffic: FakeTraffic
    let log = RunLog(environment: "production", progress: SilentProgress())
    let manifest: Manifest
    let previousManifest: Manifest

    /// With `hosts`, a fleet of that many fake hosts (`host1`…) with `bootLimit`; `replicas` is then per host.
    init(_ strategy: Strategy, replicas: Int = 2, minRequests: Int = 10, dies: Set<Int> = [], hosts: Int? = nil, bootLimit: Int = 1,
         downAfter: (starts: Int, host: String)? = nil, resources: ResourceRules = ResourceRules(),
         serve: @escaping @Sendable (String, Int) -> Served = { _, _ in Served(requests: 100) }) throws {
        func manifest(_ version: String) throws -> Manifest {
            var manifest = try ManifestParser.parse(Data("""
                service: web
                version: "\(version)"
                run: { command: ["/bin/true"], replicas: \(replicas) }
                traffic: { listen: "127.0.0.1:8080" }
                rollback: { minRequests: \(minRequests) }
                \(hosts.map { "target: { kind: ssh, bootLimit: \(bootLimit), hosts: [\((1...$0).map { "host\($0)" }.joined(separator: ", "))] }" } ?? "")
                """.utf8), path: "Environments/production.yaml")
            manifest.strategy = strategy
            manifest.rollback.resources = resources
            return manifest
        }
        self.manifest = try manifest("2.0.0")
        previousManifest = try manifest("1.0.0")
        target = FakeTarget(dies: dies, hosts: hosts.map { (1...$0).map { "host\($0)" } } ?? [nil], downAfter: downAfter)
        traffic = FakeTraffic(serve: serve)
    }

    /// A launcher for `manifest` as a run would make it (nothing is started).
    static func launcher(for manifest: Manifest, commit: ObjectID = fakeBlob("1")) -> InstanceLauncher {
        InstanceLauncher(environment: "production", manifest: manifest, manifestBlob: fakeBlob(manifest.version),
                         commit: commit, secrets: [:], state: StateDirectory(root: URL(fileURLWithPath: "/nonexistent")),
                         resolver: .standard(), workingDirectory: URL(fileURLWithPath: "/"), inherited: [:])
    }

    func launcher(_ manifest: Manifest, commit: ObjectID) -> InstanceLauncher { Self.launcher(for: manifest, commit: commit) }

    /// Runs the strategy with `baseline` instances of 1.0.0 serving (and `warm` of either version at 0%).
    func run(baseline count: Int = 2, warm: [InstanceRecord] = [], repository: OpsRepository) async throws -> [InstanceRecord] {
        let baseline = target.baseline(count, version: "1.0.0", blob: fakeBlob("1.0.0"))
        for instance in baseline { try await traffic.add(BackendServer(name: instance.id, port: instance.port)) }
        try await traffic.setWeights(Dictionary(uniqueKeysWithValues: baseline.map { ($0.id, 100) }))
        return try await manifest.strategy.runner().run(try await context(baseline: baseline, warm: warm, repository: repository))
    }

    func context(baseline: [InstanceRecord], warm: [InstanceRecord] = [], repository: OpsRepository) async throws -> DeploymentContext {
        let commit = try await repository.tip()  // what asked for the deployment (approvals come after it)
        return DeploymentContext(
            environment: "production", launcher: launcher(manifest, commit: commit),
            previous: launcher(previousManifest, commit: commit), traffic: traffic,
            repository: repository, target: target, baseline: baseline, warm: warm, weight: 100,
            smoke: SmokeChecks(checks: [], timeout: .seconds(1)), redactor: Redactor(secrets: []), log: log, logger: Logger(label: "test"))
    }
}

/// An error whose text is all it carries.
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The manifest blob id the fakes give a version: its digits, padded to an object id.
func fakeBlob(_ version: String) -> ObjectID {
    ObjectID(hex: String((version.filter(\.isNumber) + String(repeating: "0", count: 40)).prefix(40))) ?? "0000000000000000000000000000000000000000"
}
