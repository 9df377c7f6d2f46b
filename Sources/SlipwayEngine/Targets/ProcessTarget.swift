import Foundation
import SlipwayRecords
import SlipwayHost
import SlipwayCore

/// Instances as processes on this machine, registered in the state directory
/// (`envs/<env>/instances.json`) and found again by `SLIPWAY_STATE` and `SLIPWAY_ENV`.
struct ProcessTarget: Target {
    let state: StateDirectory
    let environment: EnvironmentName

    var registry: InstanceRegistry { state.registry(environment) }
    var hosts: [String?] { [nil] }

    func start(_ launcher: InstanceLauncher, on host: String? = nil) async throws -> InstanceRecord {
        guard host == nil else { throw DeploymentFailure(reason: "a process target starts instances on this machine only, not on \(host ?? "")") }
        let id = "\(launcher.manifest.service.prefix(20))-\(UUID().uuidString.prefix(8).lowercased())"
        let port = try Ports.free()
        let spec = launcher.launchSpec(id: id, port: port)
        guard let executable = launcher.executable() else { throw DeploymentFailure(reason: "run.command: \(launcher.executableProblem)") }
        if launcher.manifest.run.workingDirectory == nil {  // Slipway's own folder; one the manifest names must exist
            try FileManager.default.createDirectory(at: launcher.workingDirectory, withIntermediateDirectories: true)
        }
        let process = try ProcessControl.spawn(spec, executable: executable)
        let record = InstanceRecord(id: id, version: launcher.manifest.version, port: port, process: process,
                                    logFile: spec.logFile.path, manifest: launcher.manifestBlob, startedAt: Date())
        try registry.add(record)
        return record
    }

    func stop(_ instance: InstanceRecord, timeout: Duration) async throws {
        // A pid of another machine means nothing here.
        if let host = instance.host { throw DeploymentFailure(reason: "instance \(instance.id) runs on \(host), which this environment's target no longer names") }
        await ProcessControl.stop(instance.process, timeout: timeout)
        try registry.remove(instance.id)
    }

    func instances() -> [InstanceRecord] { registry.load() }

    func forgetStopped() throws -> [InstanceRecord] {
        let live = registry.load().filter(\.isRunning)
        try registry.save(live)
        return live
    }

    func setWarm(_ ids: Set<String>, until: Date?) throws { try registry.setWarm(ids, until: until) }

    func running(_ instances: [InstanceRecord]) -> [InstanceRecord] { instances.filter(\.isRunning) }

    func usage(of instances: [InstanceRecord]) -> [String: ResourceSample] { Self.usage(of: instances) }

    /// The instances of this machine among `instances`, in one pass over `/proc`.
    static func usage(of instances: [InstanceRecord]) -> [String: ResourceSample] {
        let local = instances.filter { $0.host == nil }
        let samples = ResourceSampler.sample(local.map(\.process))
        return Dictionary(local.compactMap { instance in samples[instance.process].map { (instance.id, $0) } }, uniquingKeysWith: { first, _ in first })
    }

    func log(of instance: InstanceRecord, redactor: Redactor) -> InstanceLog {
        let lines = redactor.redact(lines: LogTail.lastLines(of: URL(fileURLWithPath: instance.logFile), count: 20))
        return InstanceLog(instance: instance.id, lines: lines.isEmpty ? ["(no output)"] : lines)
    }

    func stopUnregistered(timeout: Duration) async -> String {
        let known = Set(registry.load().map(\.id))
        let strays = state.processes(of: environment).filter { !known.contains($0.environment["SLIPWAY_INSTANCE"] ?? "") }
        for stray in strays { await ProcessControl.stop(stray.identity, timeout: timeout) }
        return strays.isEmpty ? "none" : "stopped \(strays.map { "\($0.environment["SLIPWAY_INSTANCE"] ?? "?") (pid \($0.identity.pid))" }.joined(separator: ", "))"
    }
}
