import Foundation

/// When and how a deployment is rolled back.
public struct RollbackPolicy: Sendable, Hashable, Codable {
    public enum OnFailure: String, Sendable, Hashable, Codable, CaseIterable {
        case record, revert
    }
    /// Percentage points of 5xx over the baseline that trigger a rollback.
    public var errorRateIncrease: Double
    /// Relative response-time increase over the baseline (0.5 = 50%).
    public var latencyIncrease: Double
    public var minRequests: Int
    public var onFailure: OnFailure
    /// Run on a rollback after a backup gate: argv with `{backup}` for the backup's name.
    public var restore: [String]?
    /// false (the default): going back to the manifest that ran on this machine just before the
    /// running one (a revert, `slipway rollback`) is an emergency: no staging, no checklist or
    /// approval, every instance started at once (or the warm set reused) and all traffic switched
    /// in one exchange. true in either manifest: it goes through the whole pipeline like a release.
    public var gated = false
    /// PromQL queries judged in every analysis window and in the post-deploy observation.
    public var metrics: [MetricQuery] = []
    /// The Prometheus server `metrics` are asked of (`http(s)://host:port`).
    public var prometheus: String? = nil
    /// `rollback.cpuIncrease`, `memoryIncrease`, `memoryLimit`, `warmup` (see `ResourceRules`),
    /// kept flat so that a plan names them as the manifest does.
    public var cpuIncrease: Double?
    public var memoryIncrease: Double?
    public var memoryLimit: Int?
    public var warmup = ResourceRules.defaultWarmup

    /// CPU and memory of the new version against the previous one (README, "Resource checks").
    public var resources: ResourceRules {
        get { ResourceRules(cpuIncrease: cpuIncrease, memoryIncrease: memoryIncrease, memoryLimit: memoryLimit, warmup: warmup) }
        set { (cpuIncrease, memoryIncrease, memoryLimit, warmup) = (newValue.cpuIncrease, newValue.memoryIncrease, newValue.memoryLimit, newValue.warmup) }
    }
}

/// `rollback.cpuIncrease`, `memoryIncrease`, `memoryLimit` and `warmup`: each off unless set.
public struct ResourceRules: Sendable, Hashable, Codable {
    /// Relative CPU increase per instance allowed over the previous version (0.5 = 50%).
    public var cpuIncrease: Double?
    /// Relative resident-memory increase per instance allowed over the previous version.
    public var memoryIncrease: Double?
    /// Resident memory no instance may pass, in bytes.
    public var memoryLimit: Int?
    /// How long after its start an instance's CPU and memory are not compared (start-up work and
    /// growth); `memoryLimit` holds from the start.
    public var warmup: TimeSpan
    public static let defaultWarmup = TimeSpan(milliseconds: 10_000)

    public init(cpuIncrease: Double? = nil, memoryIncrease: Double? = nil, memoryLimit: Int? = nil, warmup: TimeSpan = defaultWarmup) {
        (self.cpuIncrease, self.memoryIncrease, self.memoryLimit, self.warmup) = (cpuIncrease, memoryIncrease, memoryLimit, warmup)
    }

    public var isEmpty: Bool { cpuIncrease == nil && memoryIncrease == nil && memoryLimit == nil }
}
