import Foundation
public import SlipwayCore
public import SlipwayHost
public import SlipwayRecords

/// How a deployed environment differs from what its last run left running, read from this
/// machine alone (the registry, `/proc`, HAProxy's pid file and socket): cheap enough for the
/// daemon to look every second.
public struct Drift: Sendable, Equatable, CustomStringConvertible {
    /// Serving instances of the deployed version that no longer run.
    public let exited: [String]
    /// Replicas not even registered (the manifest's count minus the serving instances registered).
    public let missing: Int
    /// The front (HAProxy) is not running.
    public let frontDown: Bool
    /// Instances that run but that the front does not know (a Slipway stopped between starting
    /// one and adding it, say).
    public var outOfFront: [String] = []
    /// Whether what drifted says the version is unwell: an instance that exited within
    /// `settled` of its start, or one missing from the registry (a heal's start that failed).
    public var shortLived = false

    /// How long an instance runs before its exit no longer counts towards a crash loop.
    public static let settled: Double = 60  // seconds

    public var isEmpty: Bool { exited.isEmpty && missing == 0 && !frontDown && outOfFront.isEmpty }

    public var description: String {
        var parts: [String] = []
        if frontDown { parts.append("the front (HAProxy) was not running") }
        if !exited.isEmpty { parts.append("\(exited.count) instance(s) had exited (\(exited.joined(separator: ", ")))") }
        if missing > 0 { parts.append("\(missing) instance(s) were missing") }
        if !outOfFront.isEmpty { parts.append("\(outOfFront.joined(separator: ", ")) ran outside the front") }
        return parts.joined(separator: "; ")
    }
}

extension Engine {
    /// How many replicas the manifest `blob` of `name` asks for (the daemon keeps these by blob).
    public func replicas(of name: EnvironmentName, manifest blob: ObjectID) async -> Int? {
        await repository.manifest(blob: blob, path: name.manifestPath)?.run.replicas
    }

    /// The addresses of `name`'s running manifest (`blob`) another program listens on: a
    /// stopped front cannot come back while it does, so the heal waits (nothing recorded).
    public func addressesTaken(_ name: EnvironmentName, manifest blob: ObjectID) async -> [String] {
        guard let manifest = await repository.manifest(blob: blob, path: name.manifestPath) else { return [] }
        return machine.addressesTaken(manifest.addresses, name)
    }

    /// The registered instances of what `status` says runs, out of any warm set.
    public func serving(_ name: EnvironmentName, _ status: EnvironmentStatus) -> [InstanceRecord] {
        configuration.state.registry(name).load().filter { $0.warmUntil == nil && $0.manifest == status.manifest }
    }

    /// What drifted in `name` since its last run, read afresh (see the other `drift`).
    public func drift(of name: EnvironmentName, replicas: Int) async -> Drift? {
        guard let status = configuration.state.savedStatus(name) else { return nil }
        return await drift(of: name, status: status, serving: serving(name, status), replicas: replicas)
    }

    /// What drifted in `name` since its last run (`status`, with its `serving` instances), whose
    /// manifest asks for `replicas`; nil when nothing did, nothing is deployed, or a run's
    /// journal is open (that run, or its recovery, owns the environment).
    public func drift(of name: EnvironmentName, status: EnvironmentStatus, serving: [InstanceRecord], replicas: Int) async -> Drift? {
        let state = configuration.state
        // A crash loop reported before is left alone (see `EnvironmentStatus.crashLoop`).
        guard status.version != nil, let blob = status.manifest, status.crashLoop != blob,
              !FileManager.default.fileExists(atPath: state.journal(name).path) else { return nil }
        // A fleet is not healed between releases (README, "Many machines"): its instances' liveness
        // is a question to every host, and HAProxy's checks already take a dead one out.
        guard !serving.contains(where: { $0.remote != nil }) else { return nil }
        let exited = serving.filter { !$0.isRunning }.map(\.id)
        let missing = max(0, replicas - serving.count)
        let traffic = state.traffic(name, logger: configuration.logger)
        let frontDown = !status.instances.isEmpty && !traffic.isRunning
        var drift = Drift(exited: exited, missing: missing, frontDown: frontDown)
        drift.shortLived = missing > 0 || serving.contains { !$0.isRunning && Date().timeIntervalSince($0.startedAt) < Drift.settled }
        if !frontDown, let known = try? await traffic.stats().map(\.name) {
            drift.outOfFront = serving.filter { $0.isRunning && !known.contains($0.id) }.map(\.id)
        }
        return drift.isEmpty ? nil : drift
    }

    /// Puts `name` back as its last run left it: the front restarted with the registry's
    /// servers, exited instances replaced (started, health-checked, given their traffic). One
    /// `healed` record says what drifted, what was done and how long the front was short.
    /// With `giveUp` (a crash loop) nothing is restarted: the record says so instead.
    public func heal(_ name: EnvironmentName, _ drift: Drift, giveUp: String? = nil, stop: StopSignal? = nil) async throws -> ApplyOutcome? {
        guard let status = configuration.state.savedStatus(name), let blob = status.manifest, let commit = status.commit,
              let manifest = await repository.manifest(blob: blob, path: name.manifestPath) else { return nil }
        let run = PipelineRun(environment: name, manifest: manifest, blob: blob, trigger: try await repository.git.commitInfo(commit),
                              status: status, changes: [], repository: repository, engine: configuration, stop: stop)
        let outcome = try await run.heal(drift, giveUp: giveUp)
        let recorded = try await self.commit(outcome, of: name)
        return ApplyOutcome(plan: EnvironmentPlan(record: outcome.record), record: outcome.record, commit: recorded)
    }
}
