import Foundation
import SlipwayManifest
import SlipwayRecords
import SlipwayHost
import SlipwayCore

/// Instances on the hosts of an SSH fleet (README, "Many machines"). Each host keeps the
/// registry of what runs there (`RemoteInstances`); this machine's registry keeps which of
/// them Slipway started for which version, with the host and the address the balancer uses.
/// What runs is always asked of the hosts, one look per host; an instance on a host that does
/// not answer is neither running nor forgotten. Instances of this machine are `local`'s:
/// without a fleet (an environment that moved off one) it starts them, and stops what still
/// runs on hosts where the instances say.
struct SSHTarget: Target {
    let local: ProcessTarget
    let fleet: SSHFleet?
    /// The hosts this run uses: every host of the fleet, or those pre-flight found healthy.
    let hosts: [String?]
    let ssh: SSHClient
    /// Hosts pre-flight left out, and why. Their instances are out of this run's reach: neither
    /// baseline nor replaced, and (the fleet serves one version) out of traffic until the host
    /// takes a release again.
    let leftOut: [String: String]

    init(local: ProcessTarget, fleet: SSHFleet?, hosts: [String], ssh: SSHClient, leftOut: [String: String] = [:]) {
        (self.local, self.fleet, self.ssh, self.leftOut) = (local, fleet, ssh, leftOut)
        self.hosts = fleet == nil ? [nil] : hosts
    }

    var registry: InstanceRegistry { local.registry }
    var environment: EnvironmentName { local.environment }

    /// The environment's folder on `host` of the fleet.
    func remote(_ host: String) -> RemoteInstances {
        RemoteInstances(ssh: ssh, destination: destination(host), directory: "\(fleet?.stateDirectory ?? ".slipway")/\(environment.rawValue)")
    }

    func destination(_ host: String) -> SSHDestination { SSHDestination(host: host, user: fleet?.user, port: fleet?.port) }

    /// The same fleet without the hosts in `leftOut`.
    func leaving(out leftOut: [String: String]) -> SSHTarget {
        SSHTarget(local: local, fleet: fleet, hosts: hosts.compactMap { $0 }.filter { leftOut[$0] == nil }, ssh: ssh, leftOut: leftOut)
    }

    private func isLeftOut(_ instance: InstanceRecord) -> Bool { instance.host.map { leftOut[$0] != nil } ?? false }

    /// Every fleet host that registers instances: those of this run, and those the registry names.
    private var hostsWithInstances: [RemoteInstances] {
        let registered = registry.load().compactMap(\.remote)
        let fleetHosts = hosts.compactMap { $0 }.map(remote)
        return fleetHosts + registered.filter { host in !fleetHosts.contains { $0.destination == host.destination && $0.directory == host.directory } }
            .distinct.map { RemoteInstances(ssh: ssh, host: $0) }
    }

    func start(_ launcher: InstanceLauncher, on host: String?) async throws -> InstanceRecord {
        guard let host else { return try await local.start(launcher, on: nil) }
        let id = "\(launcher.manifest.service.prefix(20))-\(UUID().uuidString.prefix(8).lowercased())"
        let remote = remote(host)
        let location = RemoteHost(destination: remote.destination, address: try await ssh.address(of: remote.destination), directory: remote.directory)
        let listed = try await remote.start(id: id) { launcher.remoteLaunch(id: id, port: $0) }
        let record = InstanceRecord(id: id, version: launcher.manifest.version, port: listed.port,
                                    process: ProcessIdentity(pid: listed.pid, startTime: listed.startTime),
                                    logFile: "\(remote.directory)/logs/\(id).log", manifest: launcher.manifestBlob, startedAt: Date(),
                                    remote: location)
        try registry.add(record)
        return record
    }

    func stop(_ instance: InstanceRecord, timeout: Duration) async throws {
        guard let location = instance.remote else { return try await local.stop(instance, timeout: timeout) }
        try await RemoteInstances(ssh: ssh, host: location).stop(id: instance.id, grace: timeout)
        try registry.remove(instance.id)
    }

    func instances() -> [InstanceRecord] { registry.load().filter { !isLeftOut($0) } }

    func forgetStopped() async throws -> [InstanceRecord] {
        let all = registry.load()
        let reached = all.filter { !isLeftOut($0) }
        let live = await liveness(reached)
        // Unknown (a host that did not answer) is kept: only a host can say its instance is gone.
        try registry.save(all.filter { live[$0.id] != false })
        return reached.filter { live[$0.id] == true }
    }

    func setWarm(_ ids: Set<String>, until: Date?) throws { try registry.setWarm(ids, until: until) }

    func running(_ instances: [InstanceRecord]) async -> [InstanceRecord] {
        let live = await liveness(instances)
        return instances.filter { live[$0.id] == true }
    }

    /// One look per host, all hosts at once, for the instances registered there; a host that
    /// does not answer leaves its instances out.
    func usage(of instances: [InstanceRecord]) async -> [String: ResourceSample] {
        await Self.usage(of: instances, ssh: ssh, local: local.usage(of: instances))
    }

    /// `local`'s readings, and those of the instances on fleet hosts (an answer counts only for
    /// the instances of the host that gave it). `timeout`: per host.
    static func usage(of instances: [InstanceRecord], ssh: SSHClient, local: [String: ResourceSample],
                      timeout: Duration = .seconds(60)) async -> [String: ResourceSample] {
        let byHost = Dictionary(grouping: instances.filter { $0.remote != nil }) { $0.remote }
        return await withTaskGroup(of: [String: ResourceSample].self) { group in
            for case let (host?, on) in byHost {
                group.addTask {
                    var remote = RemoteInstances(ssh: ssh, host: host)
                    remote.timeout = timeout
                    let asked = Dictionary(on.map { ($0.id, $0.process) }, uniquingKeysWith: { first, _ in first })
                    return (try? await remote.usage(of: asked)) ?? [:]
                }
            }
            return await group.reduce(into: local) { $0.merge($1) { first, _ in first } }
        }
    }

    func log(of instance: InstanceRecord, redactor: Redactor) async -> InstanceLog {
        guard let location = instance.remote else { return local.log(of: instance, redactor: redactor) }
        let lines: [String]
        do {
            lines = redactor.redact(lines: try await RemoteInstances(ssh: ssh, host: location).tail(id: instance.id, count: 20))
        } catch {
            lines = ["(log unavailable: \(redactor.redact(ErrorText.sentence(error))))"]
        }
        return InstanceLog(instance: "\(instance.id) on \(location.destination.host)", lines: lines.isEmpty ? ["(no output)"] : lines)
    }

    /// Instances a host runs for the environment that this machine's registry does not know:
    /// Slipway was stopped between the host's answer and its own registry write.
    func stopUnregistered(timeout: Duration) async -> String {
        var stopped: [String] = [await local.stopUnregistered(timeout: timeout)].filter { $0 != "none" }
        let known = Set(registry.load().map(\.id))
        for remote in hostsWithInstances {
            let host = remote.destination.host
            for stray in ((try? await remote.list()) ?? []).filter({ !known.contains($0.id) }) {
                do {
                    try await remote.stop(id: stray.id, grace: timeout)
                    stopped.append("\(stray.id) on \(host)")
                } catch {
                    stopped.append("\(stray.id) on \(host) not stopped: \(ErrorText.sentence(error))")
                }
            }
        }
        return stopped.isEmpty ? "none" : "stopped " + stopped.joined(separator: ", ")
    }

    /// Whether each instance runs: true or false as its host says, absent when the host did not
    /// answer. One listing per host, all hosts at once.
    func liveness(_ instances: [InstanceRecord]) async -> [String: Bool] {
        var result: [String: Bool] = [:]
        for instance in instances where instance.host == nil { result[instance.id] = local.running([instance]).isEmpty == false }
        let byHost = Dictionary(grouping: instances.filter { $0.remote != nil }) { $0.remote }
        let listings = await withTaskGroup(of: (RemoteHost?, [RemoteInstances.Listed]?).self) { group in
            for case let host? in byHost.keys { group.addTask { (host, try? await RemoteInstances(ssh: ssh, host: host).list()) } }
            return await group.reduce(into: [RemoteHost?: [RemoteInstances.Listed]]()) { $0[$1.0] = $1.1 }
        }
        for (host, instances) in byHost {
            guard let listed = listings[host] else { continue }
            for instance in instances {
                result[instance.id] = listed.contains { $0.id == instance.id && $0.pid == instance.process.pid && $0.running }
            }
        }
        return result
    }
}
