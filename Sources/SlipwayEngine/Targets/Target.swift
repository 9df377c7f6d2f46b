import Foundation
import SlipwayManifest
import SlipwayRecords
import SlipwayHost
import SlipwayCore

/// Where an environment's instances run: the one door through which Slipway starts, lists and
/// stops them. Processes on this machine today (`ProcessTarget`); an SSH fleet or another
/// runtime goes beside it, chosen in `targetFor(_:)`.
protocol Target: Sendable {
    /// Starts one instance as `launcher` describes and registers it before anything else can fail.
    func start(_ launcher: InstanceLauncher) async throws -> InstanceRecord
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
    /// The instance's last lines of output, masked.
    func log(of instance: InstanceRecord, redactor: Redactor) async -> InstanceLog
    /// Stops what was started for the environment but never registered (Slipway was killed in
    /// between); says what it stopped.
    func stopUnregistered(timeout: Duration) async -> String
}

extension Target {
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
    /// The target `manifest` names for `environment` (checked in pre-flight: only `process` is available).
    func target(for manifest: Manifest, in environment: EnvironmentName) -> any Target {
        switch manifest.target.kind {
        case .process, .ssh, .kubernetes: ProcessTarget(state: state, environment: environment)  // ssh, kubernetes: refused in pre-flight for now
        }
    }
}

/// Instances as processes on this machine, registered in the state directory
/// (`envs/<env>/instances.json`) and found again by `SLIPWAY_STATE` and `SLIPWAY_ENV`.
struct ProcessTarget: Target {
    let state: StateDirectory
    let environment: EnvironmentName

    var registry: InstanceRegistry { state.registry(environment) }

    func start(_ launcher: InstanceLauncher) async throws -> InstanceRecord {
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
