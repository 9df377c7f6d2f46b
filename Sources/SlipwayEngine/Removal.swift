import Foundation
import SlipwayGit
import SlipwayRecords
import SlipwayCore

extension Engine {
    /// Stops what runs of an environment whose manifest was deleted, and records it `removed`
    /// (README, "Removing an environment"). Only when the deletion counts under `Trust/`: a push
    /// without a signature must not stop production. Killed halfway, the next pass plans the
    /// removal again (the saved status still names what ran) and finishes it.
    func remove(_ plan: EnvironmentPlan, desired: DesiredState, at tip: ObjectID) async throws -> ApplyOutcome {
        let name = plan.environment, path = name.manifestPath
        let trust = if let trust = desired.trust { trust } else { try await self.desired(at: tip).trust }
        if let trust, case .refused(let why) = trust.verdict(path) {
            throw EngineError("\(path) was deleted, but the deletion does not count under Trust/ (\(why)); \(name) keeps running (restore the file, then delete it in a signed commit)")
        }
        guard let status = configuration.state.savedStatus(name), let version = status.version else {
            return ApplyOutcome(plan: plan, record: nil, commit: nil)
        }
        try await finishPreviousRun(name)
        let started = Date(), clock = ContinuousClock.now
        let deleting = if let commit = trust?.commits[path] { commit }
            else { try await repository.git.introducingCommit(of: path, blob: nil, from: tip) }
        let deletion = try await repository.git.commitInfo(deleting)
        let (stopped, unreached) = await configuration.state.takeDown(name, variables: configuration.environment, logger: configuration.logger)
        let milliseconds = clock.elapsedMilliseconds
        let detail = "HAProxy and \(stopped) instance(s) of \(version) stopped"
            + (unreached.isEmpty ? "" : "; not reached, still running and registered (slipway down \(name) stops them once their hosts answer): \(unreached.joined(separator: ", "))")
        var record = DeploymentRecord(
            deployment: DeploymentID.next(startedAt: started, trigger: deletion.id, after: status.lastDeployment), environment: name, service: status.service,
            version: version, previousVersion: version, result: .removed,
            reason: "\(path) was deleted in \(deletion.id.short) by \(deletion.authorName): \(detail)", strategy: .none,
            trigger: deletion.id, triggerAuthor: "\(deletion.authorName) <\(deletion.authorEmail)>", triggerSubject: deletion.subject,
            manifest: status.manifest, started: started, finished: Date(), changes: [],
            phases: [PhaseReport(name: "removal", outcome: .passed, milliseconds: milliseconds, steps: [
                StepReport(name: "stop", outcome: .passed, milliseconds: milliseconds, detail: detail),
            ])],
            instances: [], logs: [])
        record.timing = Timing(totalMilliseconds: milliseconds, waitingMilliseconds: 0)
        var after = status
        (after.version, after.commit, after.manifest, after.since, after.instances) = (nil, deletion.id, nil, nil, [])
        (after.lastResult, after.lastDeployment, after.crashLoop) = (.removed, record.deployment, nil)
        let commit = try await commitRecord(record, status: after)
        return ApplyOutcome(plan: plan, record: record, commit: commit)
    }
}
