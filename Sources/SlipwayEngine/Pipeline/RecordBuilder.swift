import Foundation
import Logging
import SlipwayGit
import SlipwayManifest
import SlipwayRecords
import SlipwayHost
import SlipwayTraffic
import SlipwayCore

/// The record and status a run ends with.
extension PipelineRun {
    /// `<time>-<commit>`, unique in the repository (see `DeploymentID.next`): no record path is written twice.
    func deploymentID(startedAt started: Date) -> DeploymentID {
        DeploymentID.next(startedAt: started, trigger: trigger.id, after: status?.lastDeployment)
    }

    func record(_ deployment: DeploymentID, started: Date, result: DeploymentResult, reason: String?, phases: [PhaseReport],
                instances: [InstanceSummary], logs: [InstanceLog]) -> DeploymentRecord {
        DeploymentRecord(
            deployment: deployment, environment: environment, service: manifest.service, version: manifest.version,
            previousVersion: status?.version, result: result, reason: reason, strategy: manifest.strategy.name, trigger: trigger.id,
            triggerAuthor: "\(trigger.authorName) <\(trigger.authorEmail)>", triggerSubject: trigger.subject,
            // A first deployment's manifest is the initial one: every field of it is not a change.
            manifest: blob, started: started, finished: Date(), changes: status?.version == nil ? [] : changes, phases: phases,
            instances: instances, logs: logs)
    }

    func finish(_ deployment: DeploymentID, started: Date, log: RunLog, target: any Target, failure: DeploymentFailure?) async -> Outcome {
        let reason = failure.map { redactor.redact($0.reason) }
        let result: DeploymentResult = switch failure {
        case nil: trigger.isRollback || returning ? .rolledBack : .succeeded
        case let failure? where failure.superseded: .superseded
        case let failure?: failure.rollback == nil ? .failed : .rolledBack
        }
        var record = record(
            deployment, started: started, result: result,
            reason: reason ?? (trigger.isRollback || returning ? "rollback to \(manifest.version) asked for in \(trigger.id.short) by \(trigger.authorName): \(trigger.subject)" : nil),
            phases: log.phases, instances: [], logs: failure?.logs ?? [])
        let status = await newStatus(for: &record, target: target, failed: failure != nil && result != .superseded)
        return Outcome(record: record, status: status)
    }

    /// One row per host of the fleet: what serves there now, and what the run did to it.
    func hostReports(_ target: SSHTarget, fleet: SSHFleet, running: [InstanceRecord], deployed: Bool) -> [HostReport] {
        fleet.hosts.map { host in
            // A host left out is not asked: its row says what the registry last knew of it.
            let here = target.leftOut[host] == nil ? running.filter { $0.host == host }
                : target.registry.load().filter { $0.host == host && $0.warmUntil == nil }
            let versions = here.map(\.version).distinct
            let outcome = if let why = target.leftOut[host] { "left out by pre-flight: \(why)" }
                else if here.isEmpty { "nothing running" }
                else if versions == [manifest.version] { deployed ? "updated" : "runs \(manifest.version)" }
                else if deployed { "kept \(versions.joined(separator: ", "))" }
                else { "back on \(versions.joined(separator: ", "))" }
            return HostReport(host: host, instances: here.count, version: versions.isEmpty ? "—" : versions.joined(separator: ", "),
                              result: outcome, since: here.map(\.startedAt).max())
        }
    }

    /// The environment's status after `record`, which gets the instances that run. A failure
    /// is remembered (not retried until the manifest changes); an interrupted or superseded run is not.
    func newStatus(for record: inout DeploymentRecord, target: any Target, failed: Bool) async -> EnvironmentStatus {
        let running = await target.serving()
        let summaries = running.map { InstanceSummary(id: $0.id, version: $0.version) }
        record.instances = summaries
        if let target = target as? SSHTarget, let fleet = target.fleet {
            record.hosts = hostReports(target, fleet: fleet, running: running, deployed: !failed && ![.interrupted, .superseded].contains(record.result))
        }
        let deployment = record.deployment
        guard failed || record.result == .interrupted || record.result == .superseded else {
            return EnvironmentStatus(
                environment: environment, service: manifest.service, version: manifest.version, commit: trigger.id,
                manifest: blob, since: Timestamp.iso(record.finished), instances: summaries, lastResult: record.result, lastDeployment: deployment)
        }
        let stillRunning = running.contains { $0.manifest == status?.manifest }
        var newStatus = EnvironmentStatus(
            environment: environment, service: status?.service ?? manifest.service,
            version: stillRunning ? status?.version : nil, commit: stillRunning ? status?.commit : nil,
            manifest: stillRunning ? status?.manifest : nil, since: stillRunning ? status?.since : nil,
            instances: summaries, lastResult: record.result, lastDeployment: deployment)
        newStatus.crashLoop = stillRunning ? status?.crashLoop : nil
        if failed {
            (newStatus.failedVersion, newStatus.failedManifest, newStatus.failedDeployment, newStatus.failedReason) =
                (manifest.version, blob, deployment, record.reason)
            newStatus.failedCommit = trigger.id
        }
        return newStatus
    }
}
