import Foundation
import Logging
import SlipwayGit
import SlipwayManifest
import SlipwayRecords
import SlipwayHost
import SlipwayTraffic
import SlipwayCore

/// One pipeline run for one environment: pre-flight → staging → production → post-deploy,
/// ending in a record and a status.
struct PipelineRun {
    let environment: EnvironmentName
    let manifest: Manifest
    let blob: ObjectID
    let trigger: CommitInfo
    /// Deployed state at the start (nil: never deployed).
    let status: EnvironmentStatus?
    let changes: [FieldChange]
    let repository: OpsRepository
    let engine: EngineConfiguration
    /// Set by the daemon to stop the run when a newer desired state arrives.
    var stop: StopSignal? = nil
    /// How `Trust/` judged this manifest when the branch was read (`TrustLedger`).
    var signature: TrustCheck.Verdict = .refused("not judged under Trust/")
    /// Going straight back to the version that ran before (see `isReturn`).
    var returning = false

    struct Outcome {
        var record: DeploymentRecord
        let status: EnvironmentStatus
        /// The upstream's status, marked validated by this run (committed with the record).
        var upstreamStatus: EnvironmentStatus?
        /// The manifest was refused for its signature: nothing it says is acted on.
        var refused = false
        /// Sends the run's last event once the record is committed.
        var announce: Announcer?
    }


    /// What the run learns on the way (the backup's name, the staging validation).
    let state = RunState()

    /// Used by the run's own task only.
    final class RunState {
        /// The backup a `backup: true` gate named.
        var backup: String?
        /// The upstream's status, marked validated by this run.
        var upstreamStatus: EnvironmentStatus?
        /// The deployment in the upstream that ran the version this run validated.
        var upstreamDeployment: DeploymentID?
    }

    /// How far production got: what a failure has to undo.
    struct Reached {
        var context: DeploymentContext?
        /// Set once the new version took all the traffic: a failure after that rolls back.
        var promoted = false
        var serving: [InstanceRecord] = []
    }

    /// The environment's journal for this run or heal, its draft record `interrupted` until it ends.
    func journal(_ deployment: DeploymentID, started: Date, refused: Bool = false) -> Journal {
        Journal(file: engine.state.journal(environment),
                draft: record(deployment, started: started, result: .interrupted, reason: nil, phases: [], instances: [], logs: []),
                failpoint: engine.failpoint, refused: refused)
    }

    /// The four phases in order; every failure ends up in the record, but for a state
    /// directory that cannot be written, which stops the run as a kill would (`StoppedRun`).
    func run() async throws(StoppedRun) -> Outcome {
        let started = Date(), clock = ContinuousClock.now
        let deployment = deploymentID(startedAt: started)
        let journal = journal(deployment, started: started, refused: signature.isRefused)
        // Nothing is done, nor announced, before the journal names the run.
        journal.write(.begin(.preflight), phases: [], analysis: [], rollback: nil)
        if let fault = journal.fault { throw StoppedRun(fault: fault, afterwards: "nothing was done", started: false) }
        let log = RunLog(environment: environment, progress: engine.progress, journal: journal, stop: stop)
        let announce = await announcer(deployment)
        log.announce = announce
        log.telemetry = engine.telemetry
        if signature.isRefused == false {
            announce(.started, "\(environment): \(manifest.service) \(status?.version ?? "none") → \(manifest.version) started (\(manifest.strategy.name.rawValue))")
        }
        let traffic = engine.state.traffic(environment, logger: engine.logger)
        var target = engine.target(for: manifest, in: environment)
        var reached = Reached()
        var failure: DeploymentFailure?
        do {
            let prepared = try await Preflight(run: self, log: log, deployment: deployment, started: started)(traffic: traffic, target: target)
            target = prepared.target
            try await staging(log: log, deployment: deployment)
            let context = productionContext(prepared, traffic: traffic, target: target, log: log)
            reached.context = context
            if status?.version == nil { journal.note(standIns: context.baseline.map(\.id)) }
            log.begin(.production)
            reached.serving = try await prepared.strategy.run(context)
            log.end()
            reached.promoted = true
            announce(.promoted, "\(environment): \(manifest.service) \(manifest.version) takes all the traffic")
            try await PostDeploy(run: self, log: log, deployment: deployment)(reached.serving, against: prepared.baselineSample, context)
        } catch let fault as StorageFault {
            throw await stopped(by: fault, target: target, traffic: traffic, reached: reached)
        } catch {
            var failed = error as? DeploymentFailure ?? DeploymentFailure(reason: "\(ErrorText.sentence(error))")
            // (Not for a manifest refused under Trust/: nothing it asks for may be acted on, recovery included.)
            if !failed.refused, var fault = engine.state.probeWrites(environment) {
                fault.description += "; meanwhile \(failed.reason)"
                throw await stopped(by: fault, target: target, traffic: traffic, reached: reached)
            }
            failed.rollback = await undo(failed, reached, target: target, log: log, deployment: deployment)
            failure = failed
        }
        var outcome = await finish(deployment, started: started, log: log, target: target, failure: failure)
        outcome.refused = failure?.refused ?? false
        outcome.announce = announce
        outcome.record.timing = Timing(totalMilliseconds: clock.elapsedMilliseconds, waitingMilliseconds: log.waitingMilliseconds)
        outcome.record.analysis = log.analysis
        outcome.record.resources = log.resources
        outcome.record.rollback = failure?.rollback
        outcome.record.upstreamDeployment = state.upstreamDeployment
        if failure == nil, let validated = state.upstreamStatus { outcome.upstreamStatus = validated }
        journal.finished(outcome.record, status: outcome.status, upstream: outcome.upstreamStatus)
        // Its outcome not in the journal (nor, then, anything written after it): finished as a killed run would be.
        if let fault = journal.fault { throw await stopped(by: fault, target: target, traffic: traffic, reached: reached) }
        return outcome
    }

    /// The run stopped by a storage fault: the traffic back on the last good version, the
    /// fault kept for the record recovery writes (see `StorageFault`).
    /// `reached`: how far a run got (nil for a heal, whose instances are the deployed version's).
    func stopped(by fault: StorageFault, target: any Target, traffic: any TrafficProvider, reached: Reached? = nil) async -> StoppedRun {
        engine.faults.note(environment, fault)
        // A refused manifest names nothing this machine may act on: not its hosts, not its instances.
        if signature.isRefused, reached != nil { return StoppedRun(fault: fault, afterwards: "nothing was done: the manifest is refused under Trust/") }
        let (afterwards, serving) = await trafficBack(target: target, traffic: traffic, standIns: reached?.context?.baseline ?? [])
        guard !serving.isEmpty, let context = reached?.context else { return StoppedRun(fault: fault, afterwards: afterwards) }
        let stopped = await stopOwn(besides: Set((serving + context.baseline + context.warm).map(\.id)), target: target, traffic: traffic)
        return StoppedRun(fault: fault, afterwards: afterwards + (stopped > 0 ? "; \(stopped) new instance(s) stopped" : ""))
    }

    /// Once another set serves again: the instances the run started, given no traffic, are
    /// stopped when their requests end (never one it began with, `kept`). A stop writes nothing
    /// here, and a version whose output filled the disk stops filling it; recovery brings the
    /// registry in line, and stops what the run could not register, once writes work. Returns
    /// how many were stopped.
    private func stopOwn(besides kept: Set<String>, target: any Target, traffic: any TrafficProvider) async -> Int {
        let timeout = manifest.run.stopTimeout.duration
        let own = await target.running(started(among: (try? await target.instances()) ?? [], besides: kept))
        let ids = Set(own.map(\.id)), deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, let stats = try? await traffic.stats(), stats.contains(where: { ids.contains($0.name) && $0.currentSessions > 0 }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return await withTaskGroup(of: Bool.self) { group in
            for instance in own {
                group.addTask {
                    try? await target.stop(instance, timeout: timeout)  // its registry entry cannot go now: stopped is what counts
                    return await target.running([instance]).isEmpty
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
    }

    /// Of `instances`, those of this run's manifest, not the deployed version's, and none of
    /// `kept` (what the run began with: where nothing ran before, a set of this very manifest may
    /// be what serves).
    func started(among instances: [InstanceRecord], besides kept: Set<String>) -> [InstanceRecord] {
        instances.filter { $0.manifest == blob && $0.manifest != status?.manifest && !kept.contains($0.id) }
    }

    /// Staging: the version passes in the upstream environment first, when there is one.
    private func staging(log: RunLog, deployment: DeploymentID) async throws {
        guard let upstream = manifest.upstream else { return log.skip(.staging, because: "no upstream environment") }
        guard !returning else { return log.skip(.staging, because: "going back to \(manifest.version), which ran here before (rollback.gated: false)") }
        log.begin(.staging)
        try await stage(in: upstream, log: log, deployment: deployment)
        log.end()
    }

    private func productionContext(_ prepared: Preflight.Prepared, traffic: any TrafficProvider, target: any Target, log: RunLog) -> DeploymentContext {
        var context = DeploymentContext(
            environment: environment, launcher: prepared.launcher, previous: prepared.previous, traffic: traffic, repository: repository,
            target: target, baseline: prepared.baseline, warm: prepared.warm, weight: 100, smoke: smokeChecks,
            redactor: Redactor(secrets: Array(prepared.secrets.values)), log: log, logger: engine.logger)
        context.baselineResources = prepared.baselineResources
        return context
    }

    /// After a storage fault: the last good version's instances that still run take all the
    /// traffic back, through HAProxy's runtime API alone; where none succeeded yet, the set that
    /// served when the run began (`standIns`, left by an earlier stopped run). Says what serves
    /// now, and which instances took the traffic (none when it stayed where it was).
    private func trafficBack(target: any Target, traffic: any TrafficProvider, standIns: [InstanceRecord]) async -> (String, serving: [InstanceRecord]) {
        let serving: [InstanceRecord], version: String
        if let previous = status?.manifest, let deployed = status?.version {
            serving = await target.running(((try? await target.instances()) ?? []).filter { $0.manifest == previous })
            version = deployed
        } else if let first = standIns.first {
            serving = await target.running(standIns)
            version = first.version
        } else {
            return ("nothing ran before: what started keeps its traffic", [])
        }
        guard !serving.isEmpty else { return ("no instance of \(version) runs any more: \(manifest.version) keeps serving", []) }
        do {
            var weights = Dictionary(uniqueKeysWithValues: try await traffic.stats().map { ($0.name, 0) })
            for instance in serving where weights[instance.id] != nil { weights[instance.id] = 100 }
            try await traffic.setWeights(weights)
            return ("\(version) takes all the traffic again (\(serving.count) instance(s))", serving)
        } catch {
            return ("taking the traffic back to \(version) failed: \(ErrorText.sentence(error))", [])
        }
    }

    /// After a failure: the new version's instances give the traffic back (unless a strategy
    /// rolled back already), a backup is restored and the onRollback hook runs. Returns the
    /// rollback, when there was one.
    private func undo(_ failure: DeploymentFailure, _ reached: Reached, target: any Target, log: RunLog, deployment: DeploymentID) async -> RollbackReport? {
        var rollback = failure.rollback
        if rollback == nil, let context = reached.context {
            // After promotion: the new set serves. Before it (a run stopped mid-rollout): whatever of the new version runs.
            // (Not the instances it began with: where nothing ran before, a set of this very manifest may be what serves.)
            let fresh = reached.promoted ? reached.serving : started(among: (try? await target.instances()) ?? [], besides: Set(context.baseline.map(\.id)))
            if !fresh.isEmpty {
                rollback = await context.rollBackAfterPromotion(fresh, trigger: failure.superseded ? .superseded : failure.trigger ?? .health, reason: failure.reason)
            }
        }
        if rollback != nil, let backup = state.backup, let restore = manifest.rollback.restore {
            try? await log.step("restore \(backup)") {
                let result = try await gateRunner(deployment: deployment).run("restore", restore, timeout: .seconds(600), extra: ["backup": backup])
                let output = result.tail.suffix(3).joined(separator: " / ")
                guard result.passed else { throw DeploymentFailure(reason: "restore \(backup): \(result.explain(.seconds(600))): \(output)") }
                return "\(restore.first ?? "restore") \(backup): exit 0\(output.isEmpty ? "" : " — \(output)")"
            }
        }
        if rollback != nil, let hook = manifest.hooks.onRollback {
            try? await log.step("hook onRollback") { try await runHook("onRollback", hook, deployment: deployment) }
        }
        log.end(failed: true)
        return rollback
    }
}
