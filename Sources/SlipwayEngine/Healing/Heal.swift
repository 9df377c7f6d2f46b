import Foundation
import SlipwayCore
import SlipwayHost
import SlipwayRecords
import SlipwayTraffic

extension PipelineRun {
    /// One healing episode of the version that runs (see `Engine.heal`): the front first, so
    /// that what still runs serves again at once, then the instances that exited.
    func heal(_ drift: Drift, giveUp: String?) async -> Outcome {
        let started = Date(), clock = ContinuousClock.now
        let log = RunLog(environment: environment, progress: engine.progress, stop: stop)
        let target = engine.target(for: manifest, in: environment)
        let traffic = engine.state.traffic(environment, logger: engine.logger)
        var reason = "\(drift)"
        log.begin(.healing)
        do {
            try await log.step("traffic") {
                let (serving, _) = try await prepareTraffic(traffic, target: target)
                return (drift.frontDown ? "HAProxy restarted; " : "") + "\(serving.count) instance(s) serving"
            }
            if let giveUp {
                reason += "; \(giveUp)"
            } else {
                let serving = target.instances().filter { $0.warmUntil == nil && $0.manifest == blob && target.isRunning($0) }
                let count = manifest.run.replicas - serving.count
                if count > 0 {
                    try await log.step("start \(count) × \(manifest.version)") {
                        let context = try healingContext(traffic: traffic, target: target, baseline: serving, log: log)
                        let fresh = try await context.startServing(count, with: context.launcher)
                        return "\(fresh.map(\.id).joined(separator: ", ")) healthy and serving"
                    }
                }
                reason += "; \(manifest.version) serves on \(manifest.run.replicas) instance(s) again after \(clock.elapsedMilliseconds) ms"
            }
            log.end()
        } catch {
            reason += "; healing failed: \(ErrorText.sentence(error))"
            log.end(failed: true)
        }
        var record = record(deploymentID(startedAt: started), started: started, result: giveUp == nil && log.phases.allSatisfy { $0.outcome == .passed } ? .healed : .failed,
                            reason: redactor.redact(reason), phases: log.phases, instances: [], logs: [])
        record.previousVersion = manifest.version
        record.changes = []
        record.timing = Timing(totalMilliseconds: clock.elapsedMilliseconds, waitingMilliseconds: log.waitingMilliseconds)
        // A crash loop is remembered as a failure of the manifest: nothing retries it (no heal, no
        // repair run) until the manifest changes or `apply --retry-failed` asks.
        var after = newStatus(for: &record, target: target, failed: giveUp != nil)
        after.since = status?.since
        return Outcome(record: record, status: after)
    }

    private func healingContext(traffic: any TrafficProvider, target: any Target, baseline: [InstanceRecord], log: RunLog) throws -> DeploymentContext {
        let secrets = try resolveSecrets(manifest)
        return DeploymentContext(
            environment: environment, launcher: try launcher(for: manifest, blob: blob, secrets: secrets), previous: nil,
            traffic: traffic, repository: repository, target: target, baseline: baseline, warm: [], weight: 100,
            smoke: smokeChecks, redactor: Redactor(secrets: Array(secrets.values)), log: log, logger: engine.logger)
    }
}
