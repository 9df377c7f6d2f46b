public import Foundation

/// How a deployment ended.
public enum DeploymentResult: String, Sendable, Codable, CaseIterable {
    case succeeded, failed, superseded, skipped
    case rolledBack = "rolled-back"
    /// Slipway was stopped mid-run (killed, the machine restarted); the next Slipway put the
    /// last good version back and wrote this record. The desired state is deployed again afterwards.
    case interrupted
}

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
    public var deployment: String
    public var environment: String
    public var service: String
    public var version: String
    /// The version that ran before, nil for a first deployment.
    public var previousVersion: String?
    public var result: DeploymentResult
    public var reason: String?
    public var strategy: String
    /// The commit whose manifest was deployed, and who made it.
    public var trigger: String
    public var triggerAuthor: String
    public var triggerSubject: String
    /// The manifest blob that was deployed.
    public var manifest: String
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
    public var analysis: [StepAnalysis] = []
    /// Set when traffic was taken back from the new version.
    public var rollback: RollbackReport?
    /// The upstream deployment that ran and validated this version (staging phase).
    public var upstreamDeployment: String?

    public init(deployment: String, environment: String, service: String, version: String, previousVersion: String?,
                result: DeploymentResult, reason: String?, strategy: String, trigger: String, triggerAuthor: String,
                triggerSubject: String, manifest: String, started: Date, finished: Date, changes: [FieldChange],
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

    /// The deployment id for a run started at `date` for `trigger`:
    /// `20261126T181500.123Z-a1b2c3d`. The milliseconds order the runs of one second.
    public static func id(startedAt date: Date, trigger: String) -> String {
        "\(Timestamp.compactMilliseconds(date))-\(trigger.prefix(7))"
    }

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
    /// `promoted`, `rolled back` or `inconclusive`.
    public let decision: String
    public let reason: String

    public init(step: String, weight: Int, milliseconds: Int, windows: Int, inconclusiveWindows: Int,
                canary: Metrics, baseline: Metrics?, decision: String, reason: String) {
        self.step = step
        self.weight = weight
        self.milliseconds = milliseconds
        self.windows = windows
        self.inconclusiveWindows = inconclusiveWindows
        self.canary = canary
        self.baseline = baseline
        self.decision = decision
        self.reason = reason
    }
}

/// What fired a rollback, the evidence, and how fast traffic went back.
public struct RollbackReport: Sendable, Codable, Hashable {
    public let trigger: String
    public let reason: String
    public let detectedAt: Date
    /// From the analysis that fired to every request going to the previous version.
    public let switchMilliseconds: Double
    /// The thresholds in force, as the manifest set them.
    public let thresholds: String
    /// What happened to the new instances then.
    public let afterwards: String

    public init(trigger: String, reason: String, detectedAt: Date, switchMilliseconds: Double, thresholds: String, afterwards: String) {
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

/// What runs in an environment now (`Status/<env>.md`).
public struct EnvironmentStatus: Sendable, Codable, Equatable {
    public var environment: String
    public var service: String
    /// The running version, nil when nothing runs.
    public var version: String?
    /// The commit and manifest blob the running version was deployed from.
    public var commit: String?
    public var manifest: String?
    public var since: String?
    public var instances: [InstanceSummary]
    public var lastResult: DeploymentResult
    public var lastDeployment: String
    /// Set while the desired state is a version that failed: Slipway does not retry it until
    /// the manifest changes.
    public var failedVersion: String?
    public var failedManifest: String?
    /// The commit that brought the failed manifest: a new commit that brings the same manifest
    /// again (a revert, a change signed anew) is a new request and is tried.
    public var failedCommit: String?
    public var failedDeployment: String?
    public var failedReason: String?
    /// Set when a downstream environment validated the running version here (smoke,
    /// integration, soak): the version, the downstream manifest it was validated for, and
    /// the deployment that did it. A later run of the same version and manifest reuses it.
    public var validatedVersion: String?
    public var validatedFor: String?
    public var validatedIn: String?

    public init(environment: String, service: String, version: String?, commit: String?, manifest: String?, since: String?,
                instances: [InstanceSummary], lastResult: DeploymentResult, lastDeployment: String,
                failedVersion: String? = nil, failedManifest: String? = nil, failedCommit: String? = nil, failedDeployment: String? = nil,
                failedReason: String? = nil,
                validatedVersion: String? = nil, validatedFor: String? = nil, validatedIn: String? = nil) {
        self.environment = environment
        self.service = service
        self.version = version
        self.commit = commit
        self.manifest = manifest
        self.since = since
        self.instances = instances
        self.lastResult = lastResult
        self.lastDeployment = lastDeployment
        self.failedVersion = failedVersion
        self.failedManifest = failedManifest
        self.failedCommit = failedCommit
        self.failedDeployment = failedDeployment
        self.failedReason = failedReason
        self.validatedVersion = validatedVersion
        self.validatedFor = validatedFor
        self.validatedIn = validatedIn
    }
}

/// UTC timestamps in the two forms records use.
public enum Timestamp {
    /// `2026-11-26T18:15:00Z` (`gmtime_r`: a formatter object per call was measurable when
    /// `history` prints 100,000 lines).
    public static func iso(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    /// `2026-11-26T18:15:00.123Z`.
    public static func isoMilliseconds(_ date: Date) -> String {
        let milliseconds = Int((date.timeIntervalSince1970 * 1000).rounded(.down)) % 1000
        let digits = String(milliseconds)
        return iso(date).dropLast() + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }

    /// `20261126T181500Z`.
    public static func compact(_ date: Date) -> String {
        iso(date).filter { $0 != "-" && $0 != ":" }
    }

    /// `20261126T181500.123Z`.
    public static func compactMilliseconds(_ date: Date) -> String {
        isoMilliseconds(date).filter { $0 != "-" && $0 != ":" }
    }

    /// The time at the start of a deployment id: `20261126T181500.123Z-…` or `20261126T181500Z-…`.
    public static func parseCompact(_ id: String) -> Date? {
        var id = id
        return id.withUTF8 { parseCompact($0) }
    }

    /// The length of the time at the start of a deployment id (16 or 20), nil when there is none.
    public static func compactLength(_ b: UnsafeBufferPointer<UInt8>) -> Int? {
        guard b.count >= 16, b[8] == UInt8(ascii: "T") else { return nil }
        if b[15] == UInt8(ascii: "Z") { return 16 }
        guard b.count >= 20, b[15] == UInt8(ascii: "."), b[19] == UInt8(ascii: "Z"), b[16..<19].allSatisfy({ (48...57).contains($0) }) else { return nil }
        return 20
    }

    /// The same from bytes, without a calendar: history reads one per record it lists.
    public static func parseCompact(_ b: UnsafeBufferPointer<UInt8>) -> Date? {
        guard let length = compactLength(b) else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in b[range] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8), let hour = number(9..<11),
              let minute = number(11..<13), let second = number(13..<15),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        // Days from 1970-01-01 to the civil date (proleptic Gregorian; Howard Hinnant's method).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        let milliseconds = length == 20 ? number(16..<19) ?? 0 : 0
        return Date(timeIntervalSince1970: TimeInterval(days * 86_400 + hour * 3_600 + minute * 60 + second) + TimeInterval(milliseconds) / 1000)
    }

    /// Appends `2026-11-26T18:15:00Z` for a deployment id (`20261126T181500.123Z-…`) to `output`;
    /// false, appending nothing, when the id does not start with a time.
    public static func appendISO(fromCompact id: String, to output: inout [UInt8]) -> Bool {
        var id = id
        return id.withUTF8 { b in
            guard parseCompact(b) != nil else { return false }
            for index in 0..<16 where index != 15 {
                if index == 4 || index == 6 { output.append(UInt8(ascii: "-")) }
                if index == 11 || index == 13 { output.append(UInt8(ascii: ":")) }
                output.append(b[index])
            }
            output.append(UInt8(ascii: "Z"))  // to the second, without the milliseconds
            return true
        }
    }

    /// Reads `2026-11-26T18:15:00Z` (fractions of a second allowed) back; nil for anything else.
    public static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.last == UInt8(ascii: "Z"), bytes[10] == UInt8(ascii: "T") else { return nil }
        func number(_ range: Range<Int>) -> Int32? {
            bytes[range].allSatisfy { (48...57).contains($0) } ? Int32(String(decoding: bytes[range], as: UTF8.self)) : nil
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
              let minute = number(14..<16), let second = number(17..<19) else { return nil }
        var fraction = 0.0
        if bytes.count > 20 {
            guard bytes[19] == UInt8(ascii: "."), let value = Double("0" + String(decoding: bytes[19..<(bytes.count - 1)], as: UTF8.self)) else { return nil }
            fraction = value
        }
        var parts = tm()
        (parts.tm_year, parts.tm_mon, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec) = (year - 1900, month - 1, day, hour, minute, second)
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)) + fraction)
    }
}
