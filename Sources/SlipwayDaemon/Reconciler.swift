import Foundation
import Synchronization
import SlipwayHost
import CSlipwaySystem
public import Logging
public import ServiceLifecycle
public import SlipwayEngine
import SlipwayGit
import SlipwayCore

/// The reconcile loop: on every trigger, when the branch moved, it plans and starts the
/// pipelines the `Scheduler` allows. Slipway's own record commits move the branch too; the plan
/// that follows finds nothing to do and starts nothing. Between plans, every `healInterval`, it
/// heals environments whose lane is idle and whose instances or front drifted. On SIGTERM the
/// runs in progress finish first.
public struct Reconciler: Service {
    let engine: Engine
    let triggers: Triggers
    let inFlight: InFlight
    /// Remote mode: fetch and push on every wake-up (runs end with one, and polls come every `--poll`).
    let remote: RemoteSync?
    let logger: Logger
    /// Replica counts of deployed manifests, by blob: a heal check reads no manifest twice.
    private let replicas = ReplicaCounts()
    /// When to plan again while environments are held (a program may be installed meanwhile).
    private let heldRetry = Backoff(first: .seconds(10), limit: .seconds(300))
    /// When to plan again while a run's recovery fails (its state directory cannot be written).
    private let recoveryRetry = Backoff(first: .seconds(1), limit: .seconds(60))
    /// Environments whose stopped front waits for its address (logged once per episode).
    private let heldFronts = HeldFronts()

    public init(engine: Engine, triggers: Triggers, inFlight: InFlight, remote: RemoteSync? = nil, logger: Logger) {
        self.engine = engine
        self.triggers = triggers
        self.inFlight = inFlight
        self.remote = remote
        self.logger = logger
    }

    public func run() async throws {
        let scheduler = Scheduler()
        do {
            let recovered = try await engine.recoverInterrupted()
            log(recovered)
        } catch {
            logger.error("recovery failed", metadata: ["error": "\(ErrorText.sentence(error))"])
        }
        var handled: String?
        var scope = PlanScope()
        var nextHealCheck = ContinuousClock.now
        // An instance that exits wakes the loop at once: its heal need not wait for the next look.
        let exits = try? ExitWatcher { [triggers] _ in triggers.fire("exit") }
        defer { exits?.stop() }
        triggers.fire("start")
        // Runs are child tasks: on SIGTERM the loop ends and the group waits for them to finish.
        await withDiscardingTaskGroup { group in
            for await reason in triggers.stream.cancelOnGracefulShutdown() {
                if let remote {
                    do { try await remote.pull() } catch { logger.warning("fetch failed", metadata: ["error": "\(ErrorText.sentence(error))"]) }
                }
                // A pass that tries held environments or a lane whose run ended without a record again plans all of them, and says why.
                let retryHeld = heldRetry.isDue(), retryLane = await scheduler.takeDueRetries()
                let retry = retryHeld ? ", held retry" : retryLane ? ", retry" : ""
                if reason == "done" || !retry.isEmpty || recoveryRetry.isDue() { handled = nil }
                if let tip = try? await engine.repository.tip(), tip.hex != handled {
                    handled = tip.hex
                    for work in await schedule(tip: tip, trigger: reason + retry, scheduler, scope: &scope, full: !retry.isEmpty) {
                        group.addTask { await run(work, scheduler) }
                    }
                    if await !scheduler.busy { Self.rest() }
                }
                // After a run or heal ("done") too: what it started is watched at once, not at the next look.
                if ContinuousClock.now >= nextHealCheck || reason == "exit" || reason == "done" {
                    nextHealCheck = .now + Self.healInterval
                    for heal in await healsDue(scheduler, watching: exits) { group.addTask { await run(heal, scheduler) } }
                }
                await Self.push(remote, logger)  // nothing to do unless a record or revert is not on the remote yet
            }
        }
        await Self.push(remote, logger)
    }

    /// Plans at `tip` what changed since the last plan (`scope`; everything when `full`):
    /// records invalid manifests, does the housekeeping of idle environments, stops superseded
    /// runs, and returns the pipelines to start.
    private func schedule(tip: ObjectID, trigger: String, _ scheduler: Scheduler, scope: inout PlanScope, full: Bool) async -> [Scheduler.Work] {
        do {
            let stamp = await scheduler.stamp
            let tip = try await engine.repository.tip()  // the branch may have moved since the trigger
            let desired = try await engine.desired(at: tip)  // judged under Trust/ before planning (see Planner.broughtAgain)
            let planner = engine.planner
            let inputs = try await planner.inputs(at: tip, desired: desired)
            let finished = await scheduler.finished(since: scope.stamp)
            let names = scope.environments(inputs, in: desired.environments, finished: finished, full: full)
            logger.info("reconcile", metadata: ["trigger": "\(trigger)", "commit": "\(tip.short)", "environments": "\(names.map { "\($0.count)" } ?? "all")"])
            let plan: Plan
            if let names {
                let plannable = planner.plannable(names, in: desired)
                plan = plannable.isEmpty ? Plan(commit: tip, environments: [], invalid: desired.environments.diagnostics.map(\.description), inputs: inputs)
                    : try await planner.plan(plannable, at: tip, desired: desired, inputs: inputs)
            } else {
                plan = try await planner.plan(at: tip, desired: desired, inputs: inputs)
            }
            // A finished run or heal is named by its lane's root, and cleared its own environment's entry.
            let touched = scope.planned(plan, scope: names, of: desired.environments).union(finished.flatMap { desired.environments.lane(of: $0) })
            scope.stamp = stamp
            // Put back after a run or heal of the environment ended (its entry went with it); said once, not at every plan.
            if !touched.isEmpty {
                for name in inFlight.hold(scope.held, among: touched).sorted() {
                    logger.warning("held: this machine lacks what it needs", metadata: ["env": "\(name)", "why": "\(scope.held[name] ?? "")"])
                }
            }
            heldRetry.planned(held: !scope.held.isEmpty)
            for diagnostic in plan.invalid {
                logger.error("invalid manifest: not deployed", metadata: ["diagnostic": "\(diagnostic)"])
            }
            let busy = await scheduler.busy(in: desired.environments)
            let recovered = try await engine.recoverInterrupted(skipping: busy)
            log(recovered)
            recoveryRetry.planned(held: recovered.contains { $0.error != nil })  // a record that waits is committed as soon as it can be
            do {
                if let commit = try await engine.restoreCommittedFiles(skipping: busy) {
                    logger.warning("records put back", metadata: ["commit": "\(commit.short)"])
                }
            } catch {
                logger.error("putting back records failed; tried again on the next pass", metadata: ["error": "\(ErrorText.sentence(error))"])
            }
            log(try await engine.recordRejections(desired, at: tip))
            // Only environments that run here can have warm sets to stop.
            for name in await scheduler.idle(engine.configuration.state.knownEnvironments(), in: desired.environments) {
                await engine.stopExpiredWarm(name)
            }
            for environment in plan.environments where environment.action == .blocked {
                logger.error("not deployed: the status file is unreadable", metadata: ["env": "\(environment.environment)", "error": "\(environment.reason ?? "")"])
            }
            return await scheduler.schedule(plan, desired: desired, tip: tip, plannedAt: stamp)
        } catch {
            logger.error("reconcile failed", metadata: ["error": "\(ErrorText.sentence(error))"])
            return []
        }
    }

    /// One pipeline; when it ends the loop plans again (what waited for the lane goes next).
    private func run(_ work: Scheduler.Work, _ scheduler: Scheduler) async {
        var recorded = true
        do {
            log([try await engine.deploy(work.plan, desired: work.desired, at: work.tip, stop: work.stop)])
        } catch {
            recorded = false
            logger.error("deployment failed", metadata: ["env": "\(work.plan.environment)", "error": "\(ErrorText.sentence(error))"])
        }
        inFlight.clear(work.plan.environment)
        await scheduler.finished(work.lane, recorded: recorded)
        triggers.fire("done")
    }

    static let healInterval: Duration = .seconds(2)

    /// Claims the lanes of environments that drifted, for healing; watches the serving instances' exits.
    private func healsDue(_ scheduler: Scheduler, watching exits: ExitWatcher?) async -> [Scheduler.Heal] {
        var due: [Scheduler.Heal] = []
        var serving: Set<Int32> = []
        defer { exits?.watch(serving) }
        let state = engine.configuration.state
        for name in state.knownEnvironments() {
            guard let status = state.savedStatus(name), let version = status.version, let blob = status.manifest else { continue }
            let instances = engine.serving(name, status)
            serving.formUnion(instances.filter { $0.remote == nil }.map(\.process.pid))  // a pid of another machine means nothing here
            if let front = state.traffic(name, logger: logger).processID { serving.insert(front) }
            var count = replicas.byBlob.withLock { $0[blob] }
            if count == nil, let asked = await engine.replicas(of: name, manifest: blob) {
                count = asked
                replicas.byBlob.withLock { known in
                    if known.count >= 1_000 { known = [:] }  // a manifest per release: bounded all the same
                    known[blob] = asked
                }
            }
            guard let count, let drift = await engine.drift(of: name, status: status, serving: instances, replicas: count) else { continue }
            if drift.frontDown, case let taken = await engine.addressesTaken(name, manifest: blob), !taken.isEmpty {
                if heldFronts.names.withLock({ $0.insert(name).inserted }) {  // said once per episode
                    logger.warning("held: the front cannot start while its address is taken", metadata: ["env": "\(name)", "why": "\(taken.joined(separator: "; "))"])
                }
                continue
            }
            heldFronts.names.withLock { _ = $0.remove(name) }
            guard let heal = await scheduler.claimForHealing(name, drift: drift, replicas: count, version: version, manifest: blob) else { continue }
            logger.warning("drift: healing", metadata: ["env": "\(name)", "drift": "\(drift)", "after": "\(heal.delay)"])
            due.append(heal)
        }
        return due
    }

    /// One heal; when it ends the loop plans again (a run that waited for the lane goes next).
    private func run(_ heal: Scheduler.Heal, _ scheduler: Scheduler) async {
        if heal.delay > .zero { try? await Task.sleep(for: heal.delay) }
        do {
            // Looked at again after the backoff: what drifted may have been put right meanwhile.
            if let drift = heal.giveUp == nil ? await engine.drift(of: heal.environment, replicas: heal.replicas) : heal.drift,
               let outcome = try await engine.heal(heal.environment, drift, giveUp: heal.giveUp, stop: heal.stop) {
                log([outcome])
                if heal.giveUp == nil, outcome.record?.result == .failed { await scheduler.healFailed(heal.environment, manifest: heal.manifest) }
            }
        } catch {
            logger.error("healing failed", metadata: ["env": "\(heal.environment)", "error": "\(ErrorText.sentence(error))"])
            // A state directory that cannot be written says nothing of the version: no step toward a crash loop.
            if !(error is StoppedRun) { await scheduler.healFailed(heal.environment, manifest: heal.manifest) }
        }
        inFlight.clear(heal.environment)
        await scheduler.finished(heal.lane)
        triggers.fire("done")
    }

    /// A daemon spends most of its life at rest: it hands back the heap the last plan and runs
    /// freed, and the code pages they ran (those stay in the page cache and come back, as minor
    /// faults, on the next run's first use).
    private static func rest() {
        _ = slipway_malloc_trim()
        _ = slipway_release_code_pages()
    }

    private func log(_ outcomes: [ApplyOutcome]) {
        for outcome in outcomes {
            guard let record = outcome.record else { continue }
            logger.notice("deployment", metadata: [
                "env": "\(record.environment)", "deployment": "\(record.deployment)",
                "result": "\(record.result.rawValue)", "version": "\(record.version)",
            ])
        }
    }

    private static func push(_ remote: RemoteSync?, _ logger: Logger) async {
        guard let remote else { return }
        do { try await remote.push() } catch { logger.warning("push failed", metadata: ["error": "\(ErrorText.sentence(error))"]) }
    }
}

/// Environments whose stopped front waits for its address to be free.
final class HeldFronts: Sendable {
    let names = Mutex<Set<EnvironmentName>>([])
}

/// Replica counts of deployed manifests, by blob.
final class ReplicaCounts: Sendable {
    let byBlob = Mutex<[ObjectID: Int]>([:])
}

/// Plans again while something waits (environments held, a recovery that failed), backing
/// off from `first` to `limit`.
final class Backoff: Sendable {
    private let first: Duration, limit: Duration
    private let state: Mutex<(due: ContinuousClock.Instant?, backoff: Duration)>

    init(first: Duration, limit: Duration) {
        (self.first, self.limit) = (first, limit)
        state = Mutex((nil, first))
    }

    /// After a pass: `held` when something still waits.
    func planned(held: Bool) {
        state.withLock { state in
            guard held else { return state = (nil, first) }
            if state.due == nil || state.due.map({ $0 <= .now }) == true {
                state.due = .now + state.backoff
                state.backoff = min(state.backoff * 2, limit)
            }
        }
    }

    func isDue() -> Bool { state.withLock { $0.due.map { $0 <= .now } ?? false } }
}
