public import SlipwayCore
/// The phases of a pipeline run and the share of progress each covers (README, "How a deployment runs").
public enum Phase: String, Sendable, CaseIterable, Codable {
    case preflight = "pre-flight"
    case staging
    case production
    case postDeploy = "post-deploy"
    /// Finishing a run that a stopped Slipway left behind.
    case recovery
    /// Putting back what a run left running, between releases.
    case healing

    public var range: ClosedRange<Int> {
        switch self {
        case .preflight: 0...20
        case .staging: 20...50
        case .production: 50...80
        case .postDeploy: 80...100
        case .recovery, .healing: 0...100
        }
    }

    /// Progress at `fraction` (0…1) of this phase.
    public func percent(_ fraction: Double) -> Int {
        range.lowerBound + Int((Double(range.upperBound - range.lowerBound) * min(max(fraction, 0), 1)).rounded())
    }
}

/// One progress event of a run.
public struct ProgressEvent: Sendable {
    public let environment: EnvironmentName
    public let percent: Int
    public let phase: Phase
    public let message: String
    /// A step in progress saying what it waits for (repeated every second while it waits).
    public var isWaiting = false
}

/// Receives progress events (the CLI draws them; tests collect them).
public protocol ProgressReporter: Sendable {
    func report(_ event: ProgressEvent)
}

/// Ignores progress.
public struct SilentProgress: ProgressReporter {
    public init() {}
    public func report(_ event: ProgressEvent) {}
}
