import Foundation
import SlipwayEngine
import SlipwayGit
import SlipwayManifest
import SlipwayCore

/// Which pipelines run. Environments linked by `upstream` form one lane (a production run
/// deploys into its upstream itself); lanes are independent and run side by side, one
/// pipeline per lane at a time. A change that arrives for the environment a lane is deploying
/// stops that run (it ends as `superseded`, traffic back on the running version); any other
/// change waits for the lane, and only the newest desired state is ever run.
actor Scheduler {
    struct Work: Sendable {
        let lane: EnvironmentName
        let plan: EnvironmentPlan
        let desired: DesiredState
        let tip: ObjectID
        let stop: StopSignal
    }

    /// A heal the lane is claimed for (see `claimForHealing`).
    struct Heal: Sendable {
        let lane: EnvironmentName
        let environment: EnvironmentName
        let drift: Drift
        let replicas: Int
        /// The running manifest healed.
        let manifest: ObjectID
        /// Set for a crash loop: the record says so and nothing is restarted.
        let giveUp: String?
        /// Backoff before restarting again within the crash-loop window.
        let delay: Duration
        let stop: StopSignal
    }

    private struct Running {
        let environment: EnvironmentName
        let version: String
        let manifest: ObjectID?
        let stop: StopSignal
    }

    private var running: [EnvironmentName: Running] = [:]
    /// The environments of the last plan: lanes between plans, and what may be healed.
    private var environments: EnvironmentSet?
    private var heals = HealHistory()
    /// Counts finished runs; a plan is stamped with it before it is made.
    private var finishedRuns = 0
    private var lastFinished: [EnvironmentName: Int] = [:]

    /// Lanes whose last run ended without a record (it could not start, or its state directory
    /// could not be written): when they may start again, and the wait after the next such end
    /// (1 s doubling to a minute), so that a fault that lasts is not retried in a loop.
    private var retryAt: [EnvironmentName: ContinuousClock.Instant] = [:]
    private var backoff: [EnvironmentName: Duration] = [:]

    /// The stamp to give a plan about to be made (see `schedule`).
    var stamp: Int { finishedRuns }

    /// Whether a lane waited for its retry and the time has come (the loop plans again, once:
    /// the lane is free to start from then on, and a lane no pass starts is not waited for).
    func takeDueRetries() -> Bool {
        let due = retryAt.filter { $0.value <= .now }.keys
        for lane in due { retryAt[lane] = nil }
        return !due.isEmpty
    }

    /// Plans at `tip` and returns the pipelines to start now; stops runs whose desired state
    /// changed. A lane whose run finished after the plan was made (`plannedAt`, its stamp) gets
    /// nothing from it: the plan read what ran before that run, and the run's end plans again.
    func schedule(_ plan: Plan, desired: DesiredState, tip: ObjectID, plannedAt: Int) -> [Work] {
        environments = desired.environments
        var work: [Work] = []
        var starting: Set<EnvironmentName> = []
        for environment in plan.environments {
            let name = environment.environment
            let lane = desired.environments.root(of: name)
            if (lastFinished[lane] ?? -1) >= plannedAt { continue }
            if retryAt[lane] != nil { continue }
            if let run = running[lane] {
                if run.environment == environment.environment, run.manifest != desired.blobs[name] {
                    run.stop.request("superseded by \(tip.short): \(name.manifestPath) changed while \(run.version) was being deployed")
                }
                continue
            }
            guard !starting.contains(lane), environment.needsRun() else { continue }
            starting.insert(lane)  // planned upstream first: the lane's first environment that needs a run goes first
            let stop = StopSignal()
            running[lane] = Running(environment: environment.environment, version: environment.desiredVersion, manifest: desired.blobs[name], stop: stop)
            work.append(Work(lane: lane, plan: environment, desired: desired, tip: tip, stop: stop))
        }
        return work
    }

    /// Of `names`, those whose lane has nothing running (for housekeeping: warm sets past their time).
    func idle(_ names: [EnvironmentName], in environments: EnvironmentSet) -> [EnvironmentName] {
        names.filter { running[environments.root(of: $0)] == nil }
    }

    /// - Parameter recorded: false when the run ended without a record (see `retryAt`).
    func finished(_ lane: EnvironmentName, recorded: Bool = true) {
        running[lane] = nil
        lastFinished[lane] = finishedRuns
        finishedRuns += 1
        if recorded {
            backoff[lane] = nil
        } else {
            let wait = backoff[lane] ?? .seconds(1)
            retryAt[lane] = .now + wait
            backoff[lane] = min(wait * 2, .seconds(60))
        }
    }

    var busy: Bool { !running.isEmpty }

    /// The lanes whose run or heal ended since the plan stamped `stamp` was made.
    func finished(since stamp: Int) -> Set<EnvironmentName> {
        Set(lastFinished.filter { $0.value >= stamp }.keys)
    }

    /// Claims the lane of `name` for healing `drift` of what runs (`manifest`); nil when a run
    /// holds the lane. What runs is healed whatever the branch says now: a manifest pushed broken
    /// leaves the running version as it is, and does not stop it from being healed. A newer
    /// desired manifest for `name` stops the heal, as it stops a run.
    func claimForHealing(_ name: EnvironmentName, drift: Drift, replicas: Int, version: String, manifest: ObjectID) -> Heal? {
        guard let environments, environments.manifests[name]?.suspended == nil else { return nil }  // before the first plan; suspended
        let lane = environments.root(of: name)
        guard running[lane] == nil else { return nil }
        let decision = heals.decide(name, manifest: manifest, counts: drift.shortLived)
        let stop = StopSignal()
        running[lane] = Running(environment: name, version: version, manifest: manifest, stop: stop)
        return Heal(lane: lane, environment: name, drift: drift, replicas: replicas, manifest: manifest, giveUp: decision.giveUp, delay: decision.delay, stop: stop)
    }

    /// A heal that did not put `manifest` back (see `HealHistory`).
    func healFailed(_ name: EnvironmentName, manifest: ObjectID) {
        heals.failed(name, manifest: manifest)
    }

    /// The environments whose lane has a run in progress: their journals belong to that run.
    func busy(in environments: EnvironmentSet) -> Set<EnvironmentName> {
        running.keys.reduce(into: []) { names, lane in names.formUnion(environments.lane(of: lane)) }
    }
}
