import SlipwayEngine
import SlipwayManifest
import SlipwayCore

/// What the daemon's plans found so far, so that a pass plans only the environments whose
/// files changed since, and those whose last plan asked for a run (README, "Performance"):
/// a commit to one environment of thousands costs one environment's plan.
struct PlanScope: Sendable {
    /// The files the last plan read; nil before the first.
    private var inputs: PlanInputs?
    /// Environments planned again on every pass until their plan asks for nothing: a run that
    /// waits for its lane, or one in progress (its end is planned again).
    private(set) var pending: Set<EnvironmentName> = []
    /// The held environments and why, across partial plans.
    private(set) var held: [EnvironmentName: String] = [:]

    /// The environments to plan at `now`, nil for every one: on the first pass, when `full` (a
    /// retry of held environments: this machine may have what they need now), or when `Trust/`
    /// or its verdicts changed. An environment brings its whole lane (see `Scheduler`): a
    /// change of production's manifest promotes into its upstream.
    func environments(_ now: PlanInputs, in environments: EnvironmentSet, full: Bool) -> Set<EnvironmentName>? {
        guard !full, let inputs, let changed = now.changed(since: inputs) else { return nil }
        var scope: Set<EnvironmentName> = []
        for name in changed.union(pending) where !scope.contains(name) { scope.formUnion(environments.lane(of: name)) }
        return scope
    }

    /// Takes in a plan of `scope` (nil: of every environment); true when `held` changed.
    mutating func planned(_ plan: Plan, scope: Set<EnvironmentName>?) -> Bool {
        inputs = plan.inputs
        let before = held
        if scope == nil { held = [:] }
        for name in scope ?? [] { held[name] = nil }
        for environment in plan.environments where environment.action == .held { held[environment.environment] = environment.reason ?? "" }
        pending = Set(plan.environments.filter { $0.needsRun() }.map(\.environment))
        return held != before
    }
}
