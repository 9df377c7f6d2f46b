public import Foundation
public import SlipwayCore

/// A field that differs between deployed and desired state.
public struct FieldChange: Sendable, Codable, Hashable {
    public let field: String
    public let from: String
    public let to: String
    public init(field: String, from: String, to: String) {
        self.field = field
        self.from = from
        self.to = to
    }
}

/// One step of a phase: a gate, a batch, a check.
public struct StepReport: Sendable, Codable, Hashable {
    public enum Outcome: String, Sendable, Codable { case passed, failed, skipped }
    public let name: String
    public let outcome: Outcome
    public let milliseconds: Int
    public let detail: String
    public init(name: String, outcome: Outcome, milliseconds: Int, detail: String) {
        self.name = name
        self.outcome = outcome
        self.milliseconds = milliseconds
        self.detail = detail
    }
}

/// A phase of the pipeline (pre-flight, staging, production, post-deploy) and its steps.
public struct PhaseReport: Sendable, Codable, Hashable {
    /// The one step of a phase that had nothing to do; its detail says why.
    public static let skippedStep = "skipped"

    public let name: String
    public let outcome: StepReport.Outcome
    public let milliseconds: Int
    public let steps: [StepReport]
    public init(name: String, outcome: StepReport.Outcome, milliseconds: Int, steps: [StepReport]) {
        self.name = name
        self.outcome = outcome
        self.milliseconds = milliseconds
        self.steps = steps
    }
}

/// An instance as records and status files show it: nothing machine-local (no pid, no
/// ephemeral port), which would only make every record differ from the last.
public struct InstanceSummary: Sendable, Codable, Hashable {
    public let id: String
    public let version: String
    public init(id: String, version: String) {
        self.id = id
        self.version = version
    }
}

/// One host of a fleet when the run ended: what runs there and what the run did to it.
public struct HostReport: Sendable, Codable, Hashable {
    public let host: String
    public let instances: Int
    /// The versions its serving instances run, or `—`.
    public let version: String
    /// `updated`, `back on 1.0.0`, `kept 1.0.0`, `left out: …`, `nothing running`.
    public let result: String
    /// When its newest serving instance started.
    public let since: Date?

    public init(host: String, instances: Int, version: String, result: String, since: Date?) {
        (self.host, self.instances, self.version, self.result, self.since) = (host, instances, version, result, since)
    }
}

/// The last lines an instance logged, kept in the record of a failure (secrets redacted).
public struct InstanceLog: Sendable, Codable, Hashable {
    public let instance: String
    public let lines: [String]
    public init(instance: String, lines: [String]) {
        self.instance = instance
        self.lines = lines
    }
}

/// Everything Slipway writes about one deployment (its record file, see `RecordFile`, and
/// the commit's trailers).
public struct DeploymentRecord: Sendable, Codable {
    /// `<UTC timestamp>-<short trigger commit>`, e.g. `20261126T181500.123Z-a1b2c3d`
    /// (records written before milliseconds: `20261126T181500Z-a1b2c3d`).
    public var deployment: DeploymentID
    public var environment: EnvironmentName
    public var service: String
    public var version: String
    /// The version that ran before, nil for a first deployment.
    public var previousVersion: String?
    public var result: DeploymentResult
    public var reason: String?
    public var strategy: StrategyName
    /// The commit whose manifest was deployed, and who made it.
    public var trigger: ObjectID
    public var triggerAuthor: String
    public var triggerSubject: String
    /// The manifest blob that was deployed (none in records written before it was kept).
    public var manifest: ObjectID?
    public var started: Date
    public var finished: Date
    public var changes: [FieldChange]
    public var phases: [PhaseReport]
    /// Instances running when the deployment ended.
    public var instances: [InstanceSummary]
    public var logs: [InstanceLog]
    /// Where the time went.
    public var timing: Timing?
    /// Canary / rolling analysis, one row per step.
    @EmptyIfMissing public var analysis: [StepAnalysis] = []
    /// Set when traffic was taken back from the new version.
    public var rollback: RollbackReport?
    /// The upstream deployment that ran and validated this version (staging phase).
    public var upstreamDeployment: DeploymentID?
    /// On a fleet: one row per host (README, "Many machines").
    @EmptyIfMissing public var hosts: [HostReport] = []
    /// What became of the events sent while the run went on (the last one is sent once the record is committed).
    @EmptyIfMissing public var notifications: [NotificationDelivery] = []
    /// Post-deploy's `resources` step: the new version's CPU and memory beside the previous one's.
    public var resources: ResourceComparison?

    public init(deployment: DeploymentID, environment: EnvironmentName, service: String, version: String, previousVersion: String?,
                result: DeploymentResult, reason: String?, strategy: StrategyName, trigger: ObjectID, triggerAuthor: String,
                triggerSubject: String, manifest: ObjectID?, started: Date, finished: Date, changes: [FieldChange],
                phases: [PhaseReport], instances: [InstanceSummary], logs: [InstanceLog]) {
        self.deployment = deployment
        self.environment = environment
        self.service = service
        self.version = version
        self.previousVersion = previousVersion
        self.result = result
        self.reason = reason
        self.strategy = strategy
        self.trigger = trigger
        self.triggerAuthor = triggerAuthor
        self.triggerSubject = triggerSubject
        self.manifest = manifest
        self.started = started
        self.finished = finished
        self.changes = changes
        self.phases = phases
        self.instances = instances
        self.logs = logs
    }

    /// Whether the deployment failed: `failed`, or rolled back automatically. A rollback someone
    /// asked for (`slipway rollback`, `git revert`) that deployed is not a failure, nor is an
    /// interrupted run (it is deployed again).
    public var isFailure: Bool { result == .failed || (result == .rolledBack && rollback != nil) }
    /// Whether this is a heal's record (its first phase is `healing`), not a run's.
    public var isHeal: Bool { phases.first?.name == "healing" }

    /// What the record's file name says (see `RecordFile`).
    public var file: RecordFile {
        RecordFile(deployment: deployment, previousVersion: previousVersion, version: version, result: result)
    }

    /// `Deployments/<env>/YYYY-MM/DD/<deployment>_<from>_<to>_<result>.md`.
    public var path: String { file.path(in: environment) }
}

/// Traffic a set of instances served: requests, 5xx share, mean response time.
public struct Metrics: Sendable, Codable, Hashable {
    public let requests: Int
    public let errors: Int
    /// Percent of requests answered with a 5xx.
    public let errorRate: Double
    public let responseMilliseconds: Int

    public init(requests: Int, errors: Int, errorRate: Double, responseMilliseconds: Int) {
        self.requests = requests
        self.errors = errors
        self.errorRate = errorRate
        self.responseMilliseconds = responseMilliseconds
    }
}

/// One step of a canary (or one batch of a rolling update with analysis): the traffic share,
/// what the new and the previous version served while it was held, and the decision.
public struct StepAnalysis: Sendable, Codable, Hashable {
    public let step: String
    /// Percent of traffic on the new version.
    public let weight: Int
    public let milliseconds: Int
    /// Analysis windows looked at, and how many of them had too little traffic to decide.
    public let windows: Int
    public let inconclusiveWindows: Int
    public let canary: Metrics
    public let baseline: Metrics?
    public let decision: StepDecision
    public let reason: String
    /// The `rollback.metrics` queries in the step's last window, both versions.
    @EmptyIfMissing public var queries: [QueryReading] = []
    /// CPU and memory of both versions in the step's last window.
    public var resources: ResourceComparison?

    public init(step: String, weight: Int, milliseconds: Int, windows: Int, inconclusiveWindows: Int,
                canary: Metrics, baseline: Metrics?, decision: StepDecision, reason: String, queries: [QueryReading] = [],
                resources: ResourceComparison? = nil) {
        self.step = step
        self.weight = weight
        self.milliseconds = milliseconds
        self.windows = windows
        self.inconclusiveWindows = inconclusiveWindows
        self.canary = canary
        self.baseline = baseline
        self.decision = decision
        self.reason = reason
        self.queries = queries
        self.resources = resources
    }
}

/// One `rollback.metrics` query in one window: its value for the new and the previous version
/// (nil: no data), its bound and what it decided.
public struct QueryReading: Sendable, Codable, Hashable {
    public let name: String
    public let value: Double?
    public let previous: Double?
    public let bound: String
    /// `pass`, or why it failed or decided nothing (`failed 0.3 over max 0.05`, `failed: no data for 2.0.0`).
    public let verdict: String

    /// A query's value as records and reasons say it: `—` for no data, four significant digits.
    public static func text(_ value: Double?) -> String {
        guard let value else { return "—" }
        return value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(format: "%.4g", value)
    }

    public init(name: String, value: Double?, previous: Double?, bound: String, verdict: String) {
        self.name = name
        self.value = value
        self.previous = previous
        self.bound = bound
        self.verdict = verdict
    }
}

/// What fired a rollback, the evidence, and how fast traffic went back.
public struct RollbackReport: Sendable, Codable, Hashable {
    public let trigger: RollbackTrigger
    public let reason: String
    public let detectedAt: Date
    /// From the analysis that fired to every request going to the previous version.
    public let switchMilliseconds: Double
    /// The thresholds in force, as the manifest set them.
    public let thresholds: String
    /// What happened to the new instances then.
    public let afterwards: String

    public init(trigger: RollbackTrigger, reason: String, detectedAt: Date, switchMilliseconds: Double, thresholds: String, afterwards: String) {
        self.trigger = trigger
        self.reason = reason
        self.detectedAt = detectedAt
        self.switchMilliseconds = switchMilliseconds
        self.thresholds = thresholds
        self.afterwards = afterwards
    }
}

/// A deployment's duration split into Slipway's own work and waiting on others
/// (health checks, drains, processes stopping).
public struct Timing: Sendable, Codable, Hashable {
    public let totalMilliseconds: Int
    public let waitingMilliseconds: Int
    public var ownMilliseconds: Int { totalMilliseconds - waitingMilliseconds }

    public init(totalMilliseconds: Int, waitingMilliseconds: Int) {
        self.totalMilliseconds = totalMilliseconds
        self.waitingMilliseconds = min(waitingMilliseconds, totalMilliseconds)
    }

    private enum CodingKeys: String, CodingKey { case totalMilliseconds, waitingMilliseconds, ownMilliseconds }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(totalMilliseconds: try container.decode(Int.self, forKey: .totalMilliseconds),
                  waitingMilliseconds: try container.decode(Int.self, forKey: .waitingMilliseconds))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(totalMilliseconds, forKey: .totalMilliseconds)
        try container.encode(waitingMilliseconds, forKey: .waitingMilliseconds)
        try container.encode(ownMilliseconds, forKey: .ownMilliseconds)
    }
}
