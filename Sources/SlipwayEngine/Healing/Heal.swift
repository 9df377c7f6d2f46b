import Foundation
import SlipwayCore
import SlipwayHost
import SlipwayRecords
import SlipwayTraffic

extension PipelineRun {
    /// One healing episode of the version that runs (see `Engine.heal`): the front first, so
    /// that what still runs serves again at once, then the instances that exited. Journaled like
    /// a run: a Slipway killed mid-heal leaves the journal, and the next pass finishes it
    /// (`recover`: strays stopped, the version back on its replicas) with one `interrupted` record.
    func heal(_ drift: Drift, giveUp: String?) async throws(StoppedRun) -> Outcome {
        let started = Date(), clock = ContinuousClock.now
        let deployment = deploymentID(startedAt: started)
        let journal = journal(deployment, started: started)
        let log = RunLog(environment: environment, progress: engine.progress, journal: journal, stop: stop)
        let target = engine.target(for: manifest, in: environment)
        let traffic = engine.state.traffic(environment, logger: engine.logger)
        var reason = "\(drift)", superseded = false
        log.begin(.healing)
        if let fault = journal.fault { throw StoppedRun(fault: fault, afterwards: "nothing was done", started: false) }
        do {
            try await log.step("traffic") {
                let (serving, _) = try await prepareTraffic(traffic, target: target)
                return (drift.frontDown ? "HAProxy restarted; " : "") + "\(serving.count) instance(s) serving"
            }
            if let giveUp {
                reason += "; \(giveUp)"
            } else {
                let serving = await target.serving().filter { $0.manifest == blob }
                let context = try healingContext(traffic: traffic, target: target, baseline: serving, log: log)
                let missing = context.missing(context.launcher, besides: serving)
                if !missing.isEmpty {
                    try await log.step("start \(missing.count) × \(manifest.version)") {
                        let fresh = try await context.startServing(on: missing, with: context.launcher)
                        return "\(fresh.map(\.id).joined(separator: ", ")) healthy and serving"
                    }
                }
                reason += "; \(manifest.version) serves on \(manifest.run.replicas) instance(s) again after \(clock.elapsedMilliseconds) ms"
            }
            log.end()
        } catch {
            // As in a run: a failure while the state directory cannot be written is the disk's, not the version's (no crash loop counted).
            if let fault = StorageFault.from(error) ?? engine.state.probeWrites(environment) { throw await stopped(by: fault, target: target, traffic: traffic) }
            superseded = (error as? DeploymentFailure)?.superseded ?? false
            reason += "; healing \(superseded ? "stopped" : "failed"): \(ErrorText.sentence(error))"
            log.end(failed: true)
        }
        let result: DeploymentResult = superseded ? .superseded
            : giveUp == nil && log.phases.allSatisfy { $0.outcome == .passed } ? .healed : .failed
        var record = record(deployment, started: started, result: result,
                            reason: redactor.redact(reason), phases: log.phases, instances: [], logs: [])
        record.previousVersion = manifest.version
        record.changes = []
        record.timing = Timing(totalMilliseconds: clock.elapsedMilliseconds, waitingMilliseconds: log.waitingMilliseconds)
        var after = await newStatus(for: &record, target: target, failed: false)
        after.since = status?.since
        // What the last run remembered stays: a failed or refused desired manifest is not retried
        // because the running one was healed. A crash loop is remembered beside it: nothing heals
        // or repairs that manifest again until a new release (or `apply --retry-failed`).
        if let status {
            (after.failedVersion, after.failedManifest, after.failedCommit, after.failedDeployment, after.failedReason) =
                (status.failedVersion, status.failedManifest, status.failedCommit, status.failedDeployment, status.failedReason)
            (after.validatedVersion, after.validatedFor, after.validatedIn) = (status.validatedVersion, status.validatedFor, status.validatedIn)
        }
        after.crashLoop = giveUp == nil ? nil : blob
        journal.finished(record, status: after, upstream: nil)
        if let fault = journal.fault { throw await stopped(by: fault, target: target, traffic: traffic) }
        return Outcome(record: record, status: after, announce: await announcer(deployment))
    }

    private func healingContext(traffic: any TrafficProvider, target: any Target, baseline: [InstanceRecord], log: RunLog) throws -> DeploymentContext {
        let secrets = try resolveSecrets(manifest)
        return DeploymentContext(
            environment: environment, launcher: try launcher(for: manifest, blob: blob, secrets: secrets), previous: nil,
            traffic: traffic, repository: repository, target: target, baseline: baseline, warm: [], weight: 100,
            smoke: smokeChecks, redactor: Redactor(secrets: Array(secrets.values)), log: log, logger: engine.logger)
    }
}
