import SlipwayEngine
import SlipwayManifest
import SlipwayCore

/// What the daemon's plans found so far, so that a pass plans only the environments whose
/// files changed since, and those whose last plan asked for a run (README, "The daemon"):
/// a commit to one environment of thousands costs one environment's plan.
struct PlanScope: Sendable {
    /// The files the last plan read, and the environments it read them as; nil before the first.
    private var inputs: PlanInputs?
    private var environments: EnvironmentSet?
    /// Environments planned again on every pass: a run that waits for its lane or is in
    /// progress; a failed manifest that a new commit of the same content may bring back; a
    /// status file that could not be read.
    private(set) var pending: Set<EnvironmentName> = []
    /// The held environments and why, across partial plans.
    private(set) var held: [EnvironmentName: String] = [:]
    /// The scheduler's count of finished runs when the last plan was made (see `Scheduler.finished(since:)`).
    var stamp = 0

    /// The environments to plan at `now`, nil for every one: on the first pass, when `full` (a
    /// retry of held environments: this machine may have what they need now), or when `Trust/`
    /// or its verdicts changed. `finished` are the environments whose run or heal ended since
    /// the last pass (their end is planned, whatever it changed). An environment brings its
    /// whole lane, as it was and as it is (see `Scheduler`): a change of production's manifest
    /// promotes into its upstream, and one that leaves a lane may release a lane held for it.
    func environments(_ now: PlanInputs, in current: EnvironmentSet, finished: Set<EnvironmentName>, full: Bool) -> Set<EnvironmentName>? {
        guard !full, let inputs, let changed = now.changed(since: inputs) else { return nil }
        var scope: Set<EnvironmentName> = []
        for name in changed.union(pending).union(finished) where !scope.contains(name) {
            scope.formUnion(current.lane(of: name))
            if let environments { scope.formUnion(environments.lane(of: name)) }
        }
        return scope
    }

    /// Takes in a plan of `scope` (nil: of every environment) made of `environments`; returns
    /// the environments whose entry in `held` changed.
    mutating func planned(_ plan: Plan, scope: Set<EnvironmentName>?, of environments: EnvironmentSet) -> Set<EnvironmentName> {
        (inputs, self.environments) = (plan.inputs, environments)
        var now = scope == nil ? [:] : held
        for name in scope ?? [] { now[name] = nil }
        for environment in plan.environments where environment.action == .held { now[environment.environment] = environment.reason ?? "" }
        // Only the entries of the environments planned can differ (all of them after a full plan).
        let changed = (scope ?? Set(held.keys).union(now.keys)).filter { held[$0] != now[$0] }
        held = now
        pending = Set(plan.environments.filter { $0.needsRun() || [.waiting, .blocked].contains($0.action) }.map(\.environment))
        return changed
    }
}
