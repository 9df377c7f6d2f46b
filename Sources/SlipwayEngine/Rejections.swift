import Foundation
import SlipwayHost
public import SlipwayGit
import SlipwayManifest
import SlipwayRecords
public import SlipwayCore

extension Engine {
    /// Records each invalid manifest once (the daemon's way of saying "not deployed, and why"):
    /// a `failed` record with the `path:line:col` diagnostics, committed with a status that keeps
    /// the running version and remembers the rejected file, so the next pass does not record it again.
    public func recordRejections(_ desired: DesiredState, at tip: ObjectID) async throws -> [ApplyOutcome] {
        let byFile = Dictionary(grouping: desired.environments.diagnostics, by: \.path)
        var outcomes: [ApplyOutcome] = []
        for (path, diagnostics) in byFile.sorted(by: { $0.key < $1.key }) {
            guard let name = EnvironmentName(manifestPath: path), let blob = desired.files[path] else { continue }
            do {
                if let outcome = try await recordRejection(name, path: path, blob: blob, diagnostics: diagnostics, at: tip) { outcomes.append(outcome) }
            } catch {
                configuration.logger.error("rejection not recorded", metadata: ["env": "\(name)", "error": "\(ErrorText.sentence(error))"])
            }
        }
        return outcomes
    }

    /// One invalid manifest's `failed` record, unless its status already remembers the rejection.
    private func recordRejection(_ name: EnvironmentName, path: String, blob: ObjectID, diagnostics: [Diagnostic], at tip: ObjectID) async throws -> ApplyOutcome? {
        let status = try await repository.deployedStatus(of: name, at: tip, state: configuration.state)
        guard status?.failedManifest != blob else { return nil }
        let trigger = try await repository.git.commitInfo(try await repository.git.introducingCommit(of: path, blob: blob, from: tip))
        let text = String(decoding: try await repository.git.readBlob(blob), as: UTF8.self)
        let reason = "invalid manifest, not deployed: " + diagnostics.map(\.description).joined(separator: "; ")
        let now = Date()
        let record = DeploymentRecord(
            deployment: DeploymentID.next(startedAt: now, trigger: trigger.id, after: status?.lastDeployment), environment: name,
            service: status?.service ?? name.rawValue, version: Self.version(in: text) ?? "invalid", previousVersion: status?.version,
            result: .failed, reason: reason, strategy: .none, trigger: trigger.id,
            triggerAuthor: "\(trigger.authorName) <\(trigger.authorEmail)>", triggerSubject: trigger.subject, manifest: blob,
            started: now, finished: now, changes: [],
            phases: [PhaseReport(name: Phase.preflight.rawValue, outcome: .failed, milliseconds: 0, steps: [
                StepReport(name: "manifest", outcome: .failed, milliseconds: 0, detail: diagnostics.map(\.description).joined(separator: "\n")),
            ])],
            instances: status?.instances ?? [], logs: [])
        var newStatus = status ?? EnvironmentStatus(environment: name, service: name.rawValue, version: nil, commit: nil, manifest: nil,
                                                    since: nil, instances: [], lastResult: .failed, lastDeployment: record.deployment)
        newStatus.lastResult = .failed
        newStatus.lastDeployment = record.deployment
        (newStatus.failedVersion, newStatus.failedManifest, newStatus.failedDeployment, newStatus.failedReason) =
            (record.version, blob, record.deployment, reason)
        let commit = try await commitRecord(record, status: newStatus)
        return ApplyOutcome(plan: EnvironmentPlan(record: record), record: record, commit: commit)
    }

    /// The top-level `version:` of a manifest that does not parse, for the record's title.
    static func version(in text: String) -> String? {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("version:") }) else { return nil }
        let value = line.dropFirst(8).split(separator: "#").first?.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
        return RecordFile.safe(value)  // someone's text: only a plain version string reaches the record
    }
}
