public import Foundation
public import SlipwayManifest
public import SlipwayHost
public import Logging
public import SlipwayTraffic
public import SlipwayCore

/// Slipway's own files on this machine: instance registries, logs, HAProxy config and socket,
/// the lock. Inside the repository's git directory by default (`.git/slipway/`), never in the
/// tracked tree.
public struct StateDirectory: Sendable {
    public let root: URL

    public init(root: URL) { self.root = root.standardizedFileURL }

    public func environment(_ name: EnvironmentName) -> URL {
        root.appendingPathComponent("envs").appendingPathComponent(name.rawValue)
    }

    public func registry(_ name: EnvironmentName) -> InstanceRegistry {
        InstanceRegistry(file: environment(name).appendingPathComponent("instances.json"))
    }

    public func logs(_ name: EnvironmentName) -> URL { environment(name).appendingPathComponent("logs") }
    public func haproxy(_ name: EnvironmentName) -> URL { environment(name).appendingPathComponent("haproxy") }
    /// The environment's load balancer.
    public func traffic(_ name: EnvironmentName, logger: Logger) -> any TrafficProvider {
        trafficProvider(directory: haproxy(name), logger: logger)
    }
    /// The ssh client of fleet targets: control sockets in `<state>/ssh`; host keys from
    /// `Trust/known_hosts` when the ops repo pins them (copied there by pre-flight), else the
    /// user's own `known_hosts`.
    func ssh(environment: [String: String]) -> SSHClient {
        SSHClient(controlDirectory: pinnedHostKeys.deletingLastPathComponent(),
                  knownHosts: access(pinnedHostKeys.path, F_OK) == 0 ? pinnedHostKeys : nil, environment: environment)
    }

    /// The host keys `Trust/known_hosts` pins, as pre-flight last copied them.
    var pinnedHostKeys: URL { root.appendingPathComponent("ssh").appendingPathComponent("known_hosts") }

    /// Default working directory of instances that name none.
    public func work(_ name: EnvironmentName) -> URL { environment(name).appendingPathComponent("work") }
    /// The run in progress (see `Journal`).
    public func journal(_ name: EnvironmentName) -> URL { environment(name).appendingPathComponent("journal.json") }
    public var lockFile: URL { root.appendingPathComponent("lock") }

    /// Processes started for an environment from this state directory, registered or not
    /// (instances carry `SLIPWAY_STATE` and `SLIPWAY_ENV`).
    public func processes(of name: EnvironmentName) -> [(identity: ProcessIdentity, environment: [String: String])] {
        ProcessControl.processes(withEnvironment: ["SLIPWAY_STATE=\(root.path)", "SLIPWAY_ENV=\(name)"])
    }

    /// The other repositories whose daemons a push here wakes (`slipway hooks install --server
    /// --notify PATH`, read by the post-receive hook's `slipway-notify`): absolute paths, one
    /// per line in `notify`.
    public var alsoNotified: [String] {
        let path = root.appendingPathComponent("notify").path
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)  // a FIFO there is not waited on
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var info = stat(), bytes = [UInt8](repeating: 0, count: 65_536)
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return [] }
        let count = read(fd, &bytes, bytes.count)
        guard count > 0 else { return [] }
        return bytes[0..<count].split(separator: UInt8(ascii: "\n")).prefix(Self.notifiedAtMost)
            .map { String(decoding: $0, as: UTF8.self) }.filter { $0.hasPrefix("/") }
    }

    /// How many other daemons a push wakes: each is asked in turn, and a push waits for the hook.
    public static let notifiedAtMost = 8

    /// Adds `paths` to `alsoNotified` (absolute paths without a line break; others are refused).
    public func notifyAlso(_ paths: [String]) throws {
        for path in paths where !path.hasPrefix("/") || path.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw EngineError("--notify \(path): give the absolute path of the daemon's repository, without control characters")
        }
        var all = alsoNotified
        for path in paths where !all.contains(path) { all.append(path) }
        guard all.count <= Self.notifiedAtMost else { throw EngineError("--notify: at most \(Self.notifiedAtMost) repositories") }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try Data(all.map { $0 + "\n" }.joined().utf8).write(to: root.appendingPathComponent("notify"), options: .atomic)
    }

    /// How many logs of instances no longer registered an environment keeps (the newest):
    /// enough for `slipway logs --instance` after a failed or superseded run, not one per
    /// instance ever started. Fleet hosts keep as many (`RemoteInstances.stopScript`).
    public static let keptLogs = RemoteInstances.keptLogs

    /// Deletes the logs of `name`'s instances that are no longer registered, all but the
    /// newest `keptLogs`; returns how many it deleted.
    @discardableResult
    public func pruneLogs(_ name: EnvironmentName) -> Int {
        let registry = registry(name), instances = registry.load()
        // A registry that does not read says nothing of what runs: nothing is deleted then.
        let size = (try? FileManager.default.attributesOfItem(atPath: registry.file.path)[.size] as? NSNumber)?.intValue ?? 0
        guard !instances.isEmpty || size <= 2 else { return 0 }
        let registered = Set(instances.map { "\($0.id).log" }), recent = Date().addingTimeInterval(-3600)
        let keys: Set<URLResourceKey> = [.contentModificationDateKey, .isRegularFileKey]
        let files = ((try? FileManager.default.contentsOfDirectory(at: logs(name), includingPropertiesForKeys: Array(keys))) ?? []).compactMap { file -> (URL, Date)? in
            guard file.pathExtension == "log", !registered.contains(file.lastPathComponent),
                  let values = try? file.resourceValues(forKeys: keys), values.isRegularFile == true else { return nil }
            return (file, values.contentModificationDate ?? .distantPast)
        }
        var deleted = 0
        // The newest, and whatever was written in the last hour (a run that started many), stay.
        for (file, modified) in files.sorted(by: { $0.1 > $1.1 }).dropFirst(Self.keptLogs) where modified < recent {
            if (try? FileManager.default.removeItem(at: file)) != nil { deleted += 1 }
        }
        return deleted
    }

    /// Environments that have state here (instances or a balancer), whether or not a manifest names them.
    public func knownEnvironments() -> [EnvironmentName] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("envs").path)) ?? []
        return names.compactMap { EnvironmentName($0) }.sorted()
    }
}

extension StateDirectory {
    /// Stops the balancer first (no new requests), then every instance started for the
    /// environment (registered or not), and forgets any run in progress; returns how many
    /// instances were stopped. Instances on fleet hosts are stopped over ssh (`variables`:
    /// Slipway's environment, for ssh's agent); those on a host that does not answer stay
    /// registered, and are named.
    public func takeDown(_ name: EnvironmentName, variables: [String: String], logger: Logger) async -> (stopped: Int, unreached: [String]) {
        await traffic(name, logger: logger).stop()
        let registry = registry(name), target = target(name, fleet: nil, variables: variables)
        let processes = Set(registry.load().filter { $0.remote == nil }.map(\.process) + processes(of: name).map(\.identity))
        for process in processes { await ProcessControl.stop(process, timeout: .seconds(5)) }
        var stopped = processes.count, unreached: [String] = []
        for instance in registry.load() where instance.remote != nil {
            do {
                try await target.stop(instance, timeout: .seconds(5))
                stopped += 1
            } catch {
                unreached.append("\(instance.id) on \(instance.host ?? "")")
            }
        }
        try? registry.save(registry.load().filter { $0.remote != nil })
        try? FileManager.default.removeItem(at: journal(name))
        return (stopped, unreached)
    }

    /// The environment's target: this machine, and `fleet`'s hosts when there is one. Without
    /// a fleet but with instances registered on hosts, those are still reached (an environment
    /// that moved off its fleet).
    func target(_ name: EnvironmentName, fleet: SSHFleet?, variables: [String: String]) -> any Target {
        let local = ProcessTarget(state: self, environment: name)
        guard fleet != nil || local.registry.load().contains(where: { $0.remote != nil }) else { return local }
        return SSHTarget(local: local, fleet: fleet, hosts: fleet?.hosts ?? [], ssh: ssh(environment: variables))
    }

    /// Stops a previous blue-green set whose `keepPrevious` has passed: out of the balancer,
    /// process stopped, registry entry gone. Housekeeping on every reconcile pass, also when
    /// nothing is deployed.
    func stopExpiredWarm(_ name: EnvironmentName, stopTimeout: Duration, variables: [String: String], logger: Logger) async {
        let target = target(name, fleet: nil, variables: variables)
        let expired = ((try? await target.instances()) ?? []).filter { ($0.warmUntil ?? .distantFuture) < Date() }
        guard !expired.isEmpty else { return }
        let traffic = traffic(name, logger: logger)
        for instance in expired {
            if traffic.isRunning { try? await traffic.remove(instance.id) }
            try? await target.stop(instance, timeout: stopTimeout)
        }
        logger.info("stopped the warm set", metadata: ["env": "\(name)", "instances": "\(expired.count)"])
    }
}
