import SlipwayManifest
import SlipwayHost

/// Replaces the baseline instances with instances of the desired version; returns the
/// instances that serve when it is done.
protocol DeploymentStrategy {
    func run(_ context: DeploymentContext) async throws -> [InstanceRecord]
}

extension Strategy {
    /// The one dispatch point from a manifest's strategy to the code that runs it.
    func runner() throws -> any DeploymentStrategy {
        switch self {
        case .rolling(let spec):
            return RollingStrategy(spec: spec)
        case .canary(let spec):
            return CanaryStrategy(spec: spec)
        case .blueGreen(let spec):
            return BlueGreenStrategy(spec: spec)
        }
    }
}
