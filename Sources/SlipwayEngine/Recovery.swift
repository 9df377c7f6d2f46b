import Foundation
import SlipwayGit
public import SlipwayManifest
import SlipwayRecords
import SlipwayHost
import SlipwayTraffic
public import SlipwayCore

extension Engine {
    /// Finishes every run that a stopped Slipway left behind (a journal without its record),
    /// before anything else is deployed: a run whose outcome was known gets the record it was
    /// about to commit; any other is rolled back to the last good version and recorded
    /// `interrupted`. Either way exactly one record per run. The desired state is then deployed
    /// again by the pass, as a new run. The daemon calls it on every pass for the environments
    /// with no run in progress (`skipping` the others): a record whose commit failed (git's
    /// index lock held by a person, a full disk) is committed as soon as it can be.
    public func recoverInterrupted(skipping busy: Set<EnvironmentName> = []) async throws -> [ApplyOutcome] {
        var outcomes: [ApplyOutcome] = []
        for name in configuration.state.knownEnvironments() where !busy.contains(name) {
            let file = configuration.state.journal(name)
            guard let entry = Journal.load(file) else { continue }
            do {
                if let outcome = try await recover(name, entry: entry, journal: file) { outcomes.append(outcome) }
            } catch {
                // Left for the next pass; the other environments are recovered meanwhile.
                configuration.logger.error("recovery failed", metadata: ["env": "\(name)", "error": "\(ErrorText.sentence(error))"])
                outcomes.append(ApplyOutcome(plan: EnvironmentPlan(record: entry.record), record: nil, commit: nil, error: "recovery: \(ErrorText.sentence(error))"))
            }
        }
        return outcomes
    }

    /// Finishes the environment's last run when its record is not in git yet, before a new run
    /// takes its journal.
    func finishPreviousRun(_ name: EnvironmentName) async throws {
        let file = configuration.state.journal(name)
        guard let entry = Journal.load(file) else { return }
        do {
            _ = try await recover(name, entry: entry, journal: file)
        } catch {
            throw EngineError("not deployed: the record of the previous run \(entry.record.deployment) is not in git yet: \(ErrorText.sentence(error))")
        }
    }

    /// Finishes one interrupted run (see `recoverInterrupted`).
    private func recover(_ name: EnvironmentName, entry: JournalEntry, journal file: URL) async throws -> ApplyOutcome? {
        let tip = try await repository.tip()
        if try await repository.git.blobID(at: entry.record.path, in: tip) != nil {
            // The record made it (with its status, in one commit); the saved status or the journal's removal did not.
            if let status = entry.status { try configuration.state.save(status) }
            if let upstream = entry.upstreamStatus { try configuration.state.save(upstream) }
            Journal.clear(file)
            configuration.faults.clear(name)
            return nil
        }
        let outcome: PipelineRun.Outcome
        if entry.event == .finished, let finalStatus = entry.status {
            configuration.logger.notice("committing the record of a finished run", metadata: ["env": "\(name)", "deployment": "\(entry.record.deployment)"])
            outcome = PipelineRun.Outcome(record: entry.record, status: finalStatus, upstreamStatus: entry.upstreamStatus)
        } else {
            configuration.logger.warning("recovering an interrupted run", metadata: [
                "env": "\(name)", "deployment": "\(entry.record.deployment)", "at": "\(entry.event)",
            ])
            let trigger = entry.record.trigger
            guard let blob = entry.record.manifest, let manifest = await repository.manifest(blob: blob, path: name.manifestPath) else {
                throw EngineError("\(file.path): the interrupted run's manifest \(entry.record.manifest?.short ?? "?") cannot be read")
            }
            let run = PipelineRun(environment: name, manifest: manifest, blob: blob, trigger: try await repository.git.commitInfo(trigger),
                                  status: try await repository.deployedStatus(of: name, at: tip, state: configuration.state), changes: entry.record.changes,
                                  repository: repository, engine: configuration)
            outcome = try await run.recover(entry)
        }
        let commit = try await self.commit(outcome, of: name)
        configuration.faults.clear(name)
        return ApplyOutcome(plan: EnvironmentPlan(record: outcome.record), record: outcome.record, commit: commit)
    }
}

extension PipelineRun {
    /// Puts the last good version back after an interrupted run of this one: instances that
    /// were started but never registered are stopped, HAProxy is brought in line with the
    /// registry, the previous version takes all traffic (its warm set, the instances still
    /// there, or new ones), and the new version's instances are drained and stopped. Throws,
    /// having done nothing or committing nothing, while the state directory cannot be written:
    /// the journal stays for the next try, and no record says "recovery failed" for a full disk.
    func recover(_ entry: JournalEntry) async throws -> Outcome {
        if let fault = engine.state.probeWrites(environment) { throw fault }
        let log = RunLog(environment: environment, progress: engine.progress)
        let target = engine.target(for: manifest, in: environment)
        let traffic = engine.state.traffic(environment, logger: engine.logger)
        let stoppedAt = "\(entry.event) at \(Timestamp.iso(entry.updated))"
        var afterwards = "nothing of \(manifest.version) was left"
        log.begin(.recovery)
        do {
            // A run refused before it did anything: its manifest names nothing this machine may act on.
            afterwards = entry.refused == true ? "nothing was done: its manifest is refused under Trust/"
                : try await putBack(log: log, target: target, traffic: traffic, stoppedAt: stoppedAt, standIns: Set(entry.standIns ?? [])) ?? afterwards
            log.end()
        } catch {
            // While the state directory cannot be written (the probe says so; an EIO of a fleet host is not that), the next try.
            if let fault = engine.state.probeWrites(environment) { throw fault }
            afterwards = "recovery failed: \(ErrorText.sentence(error))"
            log.end(failed: true)
        }
        var record = entry.record
        record.result = .interrupted
        record.finished = Date()
        record.phases = entry.record.phases + log.phases
        record.rollback = log.rollback ?? entry.record.rollback
        let healing = entry.record.isHeal, run = healing ? "heal" : "run"
        let stopped = if let fault = engine.faults.fault(of: environment) {
            "The state directory could not be written during the \(run) (\(fault)), after \(stoppedAt); once it could, \(afterwards)."
        } else {
            "Slipway stopped during the \(run) (\(stoppedAt)); on restart \(afterwards)."
        }
        record.reason = redactor.redact(stopped + (healing ? "" : " The next run deploys the desired state again."))
        let after = await newStatus(for: &record, target: target, failed: false)
        return Outcome(record: record, status: after)
    }

    /// The recovery's steps: strays stopped, HAProxy in line with the registry, the previous
    /// version back (or, where none ran, the new instances stopped and the `standIns` serving).
    /// Says what serves now; nil when nothing of the new version was left.
    private func putBack(log: RunLog, target: any Target, traffic: any TrafficProvider, stoppedAt: String, standIns: Set<String>) async throws -> String? {
        try await log.step("unregistered instances") { await target.stopUnregistered(timeout: manifest.run.stopTimeout.duration) }
        var baseline: [InstanceRecord] = [], warm: [InstanceRecord] = []
        try await log.step("traffic") {
            (baseline, warm) = try await prepareTraffic(traffic, target: target)
            let stats = try await traffic.stats()
            return "HAProxy on \(manifest.traffic.listen): " + stats.map { "\($0.name) \($0.health) weight \($0.weight)" }.joined(separator: ", ")
        }
        let fresh = started(among: baseline + warm, besides: standIns)
        let previous = await previousLauncher()
        let secrets = (try? resolveSecrets(manifest)) ?? [:]
        let context = DeploymentContext(
            environment: environment, launcher: try launcher(for: manifest, blob: blob, secrets: secrets), previous: previous,
            traffic: traffic, repository: repository, target: target, baseline: baseline.filter { !fresh.contains($0) },
            warm: warm.filter { !fresh.contains($0) }, weight: 100, smoke: SmokeChecks(checks: [], timeout: .seconds(1)),
            redactor: redactor, log: log, logger: engine.logger)
        if let previous, let version = status?.version {
            let serving = baseline.filter { $0.manifest == previous.manifestBlob }
            if !fresh.isEmpty || !context.missing(previous, besides: serving).isEmpty {
                var rollback: RollbackReport?
                try await log.step("back to \(version)") {
                    rollback = await context.rollBackAfterPromotion(fresh, trigger: .interrupted, reason: "Slipway stopped (\(stoppedAt)) before the run ended")
                    return rollback?.afterwards ?? "done"
                }
                return "\(version) serves again; \(rollback?.afterwards ?? "")"
            } else {
                return "\(version) kept serving; nothing of \(manifest.version) was running"
            }
        } else if !fresh.isEmpty {
            let kept = baseline.filter { standIns.contains($0.id) }
            try await log.step("stop \(manifest.version)") {
                if !kept.isEmpty { try await traffic.setWeights(Dictionary(uniqueKeysWithValues: kept.map { ($0.id, 100) })) }
                for instance in fresh { try await context.retire(instance) }
                return "\(fresh.count) instance(s) drained and stopped; " + (kept.isEmpty ? "no earlier version to go back to" : "the \(kept.count) left serving by an earlier run serve")
            }
            return kept.isEmpty ? "nothing ran before; the \(fresh.count) new instance(s) were stopped"
                : "\(kept[0].version), left serving by an earlier run, serves again; the \(fresh.count) new instance(s) were stopped"
        }
        return nil
    }
}

extension EnvironmentPlan {
    /// The plan line of a record written outside a planned run (a recovery, a rejection).
    init(record: DeploymentRecord) {
        self.init(environment: record.environment, action: .update, service: record.service, desiredVersion: record.version,
                  deployedVersion: record.previousVersion, changes: record.changes, reason: record.reason)
    }
}
