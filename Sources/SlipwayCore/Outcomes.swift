/// The outcomes and kinds records, the engine and the CLI share, as the words records use.

/// How a deployment ended.
public enum DeploymentResult: String, Sendable, Codable, CaseIterable {
    case succeeded, failed, superseded, skipped
    case rolledBack = "rolled-back"
    /// Slipway was stopped mid-run (killed, the machine restarted); the next Slipway put the
    /// last good version back and wrote this record. The desired state is deployed again afterwards.
    case interrupted
    /// Between releases, what ran had drifted (an instance exited, the front stopped) and the
    /// daemon put it back: the same version, nothing released.
    case healed
    /// The environment's manifest was deleted (by a commit that counts under `Trust/`): its
    /// instances and front were stopped.
    case removed
}

/// What fired a rollback.
public enum RollbackTrigger: String, Sendable, Codable {
    case errorRate = "error-rate"
    case latency
    case health
    case inconclusive
    case smoke
    /// A `rollback.metrics` query passed its bound.
    case metric
    /// `rollback.cpuIncrease`: the new version used more CPU than allowed.
    case cpu
    /// `rollback.memoryIncrease` or `memoryLimit`.
    case memory
    /// Slipway was stopped mid-run; the restarted one put the last good version back.
    case interrupted
    /// A newer desired state arrived mid-run.
    case superseded
}

/// How an analysed step ended; the raw values are what records say.
public enum StepDecision: String, Sendable, Codable, Hashable {
    case promoted
    case rolledBack = "rolled back"
}

/// The strategy a run used, as records name it; `none` for a run that never reached one
/// (a manifest refused before pre-flight).
public enum StrategyName: String, Sendable, Codable, CaseIterable {
    case rolling, canary, blueGreen, none
}
