public import Foundation
public import SlipwayCore

/// One thing that happened to a deployment, as notifications carry it. Built from what the
/// run knows, with secrets already masked; never holds a channel's URL or key.
public struct DeploymentEvent: Sendable, Codable, Hashable {
    public var kind: EventKind
    public var environment: EnvironmentName
    public var service: String
    public var version: String
    public var previousVersion: String?
    public var deployment: DeploymentID
    /// The commit that asked for the run.
    public var commit: ObjectID
    public var time: Date
    /// One line for people: `production: web 1.0.0 → 1.1.0 rolled back: error rate 23% over 0.4%`.
    public var message: String
    /// Why it failed or rolled back, in full (the message has its first line).
    public var detail: String?
    /// For `rolled-back`: what fired it, and the figures it saw.
    public var trigger: RollbackTrigger?
    public var evidence: String?
    /// For `waiting-for-approval`: the checklist and the command that approves.
    public var checklist: [String]?
    public var approve: String?
    /// For `step-passed`: which step.
    public var step: String?
    /// The record's path, once it is written.
    public var record: String?

    public init(kind: EventKind, environment: EnvironmentName, service: String, version: String, previousVersion: String?,
                deployment: DeploymentID, commit: ObjectID, time: Date = Date(), message: String) {
        self.kind = kind
        self.environment = environment
        self.service = service
        self.version = version
        self.previousVersion = previousVersion
        self.deployment = deployment
        self.commit = commit
        self.time = time
        self.message = message
    }

    /// The event as a Flux event's `reason` names it: `RolledBack`.
    public var fluxReason: String {
        kind.rawValue.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    /// Whether people should look: the severity Flux's events carry.
    /// A rollback someone asked for (no trigger) is news, not an error.
    public var severity: String { [.failed, .refused].contains(kind) || (kind == .rolledBack && trigger != nil) ? "error" : "info" }
}
