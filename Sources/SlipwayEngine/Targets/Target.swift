import Foundation
import SlipwayManifest
import SlipwayRecords
import SlipwayHost
import SlipwayCore
import SlipwayTraffic

/// Where an environment's instances run: the one door through which Slipway starts, lists and
/// stops them. Processes on this machine (`ProcessTarget`) or on the hosts of an SSH fleet
/// (`SSHTarget`), chosen in `target(for:in:)`.
protocol Target: Sendable {
    /// Where instances can be started: `[nil]` for this machine, the fleet's hosts otherwise.
    var hosts: [String?] { get }
    /// Starts one instance as `launcher` describes on `host` and registers it before anything else can fail.
    func start(_ launcher: InstanceLauncher, on host: String?) async throws -> InstanceRecord
    /// Stops an instance (`timeout` from the polite signal to the hard one) and forgets it.
    func stop(_ instance: InstanceRecord, timeout: Duration) async throws
    /// The instances registered now, running or not (on other machines: their registries).
    func instances() async throws -> [InstanceRecord]
    /// Forgets instances that no longer run; returns the ones that do.
    func forgetStopped() async throws -> [InstanceRecord]
    /// Marks `ids` as a warm set kept out of traffic until `until` (nil: back to serving).
    func setWarm(_ ids: Set<String>, until: Date?) async throws
    /// Those of `instances` that still run, in order (on other machines: one look per host).
    func running(_ instances: [InstanceRecord]) async -> [InstanceRecord]
    /// What each of `instances` that runs uses now, by id (on other machines: one look per
    /// host; an instance that cannot be read is left out).
    func usage(of instances: [InstanceRecord]) async -> [String: ResourceSample]
    /// The instance's last lines of output, masked.
    func log(of instance: InstanceRecord, redactor: Redactor) async -> InstanceLog
    /// Stops what was started for the environment but never registered (Slipway was killed in
    /// between); says what it stopped.
    func stopUnregistered(timeout: Duration) async -> String
}

extension Target {
    /// `perHost` instances on every host, host by host.
    func placements(perHost: Int) -> [String?] { hosts.flatMap { Array(repeating: $0, count: perHost) } }

    func isRunning(_ instance: InstanceRecord) async -> Bool { await !running([instance]).isEmpty }

    func logs(of instances: [InstanceRecord], redactor: Redactor) async -> [InstanceLog] {
        var logs: [InstanceLog] = []
        for instance in instances { logs.append(await log(of: instance, redactor: redactor)) }
        return logs
    }

    /// The registered instances that run, out of any warm set.
    func serving() async -> [InstanceRecord] {
        await running(((try? await instances()) ?? []).filter { $0.warmUntil == nil })
    }
}

extension EngineConfiguration {
    /// The target `manifest` names for `environment`, on all of its hosts (pre-flight leaves
    /// out those that do not answer).
    func target(for manifest: Manifest, in environment: EnvironmentName) -> any Target {
        let fleet = manifest.target.kind == .ssh ? manifest.fleet : nil
        return state.target(environment, fleet: fleet, variables: self.environment)
    }
}

extension InstanceRecord {
    /// The instance as the balancer sees it.
    var backend: BackendServer { BackendServer(name: id, host: reachableAt, port: port) }
}

extension Array where Element: Equatable {
    /// The elements in order, each once.
    var distinct: [Element] { reduce(into: []) { if !$0.contains($1) { $0.append($1) } } }
}
