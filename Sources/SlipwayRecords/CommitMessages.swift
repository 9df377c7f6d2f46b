import Foundation
public import SlipwayCore

/// The messages of the commits Slipway makes besides records (`Trailers.message(for:)`): a
/// subject in git's `kind(scope): what` form, a short body, and the trailers `git log --grep`
/// and Slipway read back. Pure: each is a value, tested as one.
public enum CommitMessage {
    /// Puts the previous manifest back after a failed deployment (`rollback.onFailure: revert`).
    public static func revert(environment: EnvironmentName, service: String, failedVersion: String, previousVersion: String,
                              deployment: DeploymentID, result: DeploymentResult, trigger: ObjectID, reason: String?) -> String {
        compose("revert(\(environment)): \(service) \(failedVersion) → \(previousVersion) after deployment \(deployment) \(result.rawValue)",
                body: ["This reverts the manifest change of commit \(trigger).", reason ?? ""],
                trailers: [(Trailers.environment, environment.rawValue), (Trailers.version, previousVersion), (Trailers.reverts, trigger.hex),
                           (Trailers.failedDeployment, deployment.rawValue)])
    }

    /// Sets the version in an upstream environment's manifest (the staging phase).
    public static func promote(upstream: EnvironmentName, service: String, from: String, to version: String, for environment: EnvironmentName) -> String {
        compose("promote(\(upstream)): \(service) \(from) → \(version) for \(environment)",
                trailers: [(Trailers.promotion, upstream.rawValue), (Trailers.version, version), (Trailers.promotedFor, environment.rawValue)])
    }

    /// `slipway approve`: the checklist a person ticked for one manifest.
    public static func approve(environment: EnvironmentName, service: String, version: String, manifest: ObjectID) -> String {
        compose("approve(\(environment)): \(service) \(version)",
                trailers: [(Trailers.approval, environment.rawValue), (Trailers.version, version), (Trailers.manifest, manifest.hex)])
    }

    /// `slipway rollback`: a manifest that ran before, back in place; `reverts` when it undoes exactly one change.
    public static func rollback(environment: EnvironmentName, from: String, to version: String, reverts: ObjectID?) -> String {
        compose("rollback(\(environment)): \(from) → \(version)",
                body: reverts.map { ["This reverts commit \($0)."] } ?? [],
                trailers: [(Trailers.rollback, environment.rawValue), (Trailers.version, version)] + (reverts.map { [(Trailers.reverts, $0.hex)] } ?? []))
    }

    private static func compose(_ subject: String, body: [String] = [], trailers: [(String, String)]) -> String {
        let paragraph = body.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        let lines = [subject, ""] + (paragraph.isEmpty ? [] : [paragraph, ""]) + trailers.map { "\($0.0): \($0.1)" }
        return lines.joined(separator: "\n") + "\n"
    }
}
