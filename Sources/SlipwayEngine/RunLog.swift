import Foundation
import SlipwayHost
import Synchronization
import SlipwayRecords
import SlipwayCore

/// Why a deployment failed, with the evidence the record keeps.
struct DeploymentFailure: Error, CustomStringConvertible {
    let reason: String
    /// Last log lines of the instances involved.
    var logs: [InstanceLog] = []
    /// What to call it when it leads to a rollback.
    var trigger: RollbackTrigger? = nil
    /// A newer desired state stopped the run.
    var superseded = false
    /// Refused for a signature (`Trust/`): nothing the manifest asks for is done, its onFailure included.
    var refused = false
    /// Traffic was taken back from the new version: how, and what became of it.
    var rollback: RollbackReport? = nil
    var description: String { reason }
}

/// Asks a run in progress to stop because a newer desired state arrived. The run notices
/// at its next wait (health checks, analysis windows, approvals), puts the running version
/// back and ends as `superseded`.
public final class StopSignal: Sendable {
    private let state = Mutex<(reason: String?, taken: Bool)>((nil, false))

    public init() {}

    public func request(_ reason: String) { state.withLock { if $0.reason == nil { $0.reason = reason } } }

    /// The reason, once: the waits of the clean-up that follows are not stopped again.
    func take() -> String? {
        state.withLock {
            guard let reason = $0.reason, !$0.taken else { return nil }
            $0.taken = true
            return reason
        }
    }
}

/// Collects the phases and steps of one run, with durations, and reports progress.
/// Owned by the task that runs the deployment.
final class RunLog {
    private let environment: EnvironmentName
    private let progress: any ProgressReporter
    private(set) var phases: [PhaseReport] = []
    private var steps: [StepReport] = []
    private var current: (phase: Phase, started: ContinuousClock.Instant)?
    /// Time spent waiting on others (health checks, drains, processes stopping), so that
    /// the record can tell Slipway's own time apart.
    private(set) var waitingMilliseconds = 0
    private var lastPercent = 0
    /// Analysis of each canary step or rolling batch, for the record (`judged` adds to it).
    private(set) var analysis: [StepAnalysis] = []
    /// Post-deploy's `resources` step, for the record.
    var resources: ResourceComparison?
    /// Tells the run's notification channels (waiting for approval, a step passed).
    var announce: Announcer?
    /// Counts the analysis windows' figures.
    var telemetry = Telemetry()
    /// The rollback so far, for the journal (the run's result reads it from `DeploymentFailure`).
    var rollback: RollbackReport?
    /// Where every phase and step is written before and after it acts (nil: not journaled).
    let journal: Journal?
    /// Set by the daemon when a newer desired state supersedes this run.
    let stop: StopSignal?

    init(environment: EnvironmentName, progress: any ProgressReporter, journal: Journal? = nil, stop: StopSignal? = nil) {
        self.environment = environment
        self.progress = progress
        self.journal = journal
        self.stop = stop
    }

    func begin(_ phase: Phase) {
        current = (phase, .now)
        steps = []
        journal(event: .begin(phase))
        report(phase.percent(0), "started")
    }

    /// Records a phase that has nothing to do.
    func skip(_ phase: Phase, because reason: String) {
        phases.append(PhaseReport(name: phase.rawValue, outcome: .skipped, milliseconds: 0,
                                  steps: [StepReport(name: PhaseReport.skippedStep, outcome: .skipped, milliseconds: 0, detail: reason)]))
        report(phase.percent(1), "skipped: \(reason)", in: phase)
    }

    /// Runs one step; its detail is what `body` returns, or the failure's reason.
    func step(_ name: String, at fraction: Double = 0, _ body: () async throws -> String) async throws {
        let started = ContinuousClock.now
        let phase = current?.phase
        journal(event: .step(phase, name), inProgress: name)
        // A step its journal does not name is not taken: what it did could not be undone after a crash.
        if let fault = journal?.fault { throw fault }
        report(current.map { $0.phase.percent(fraction) } ?? 0, name)
        do {
            let detail = try await body()
            steps.append(StepReport(name: name, outcome: .passed, milliseconds: started.elapsedMilliseconds, detail: detail))
            journal(event: .done(phase, name))
        } catch {
            steps.append(StepReport(name: name, outcome: .failed, milliseconds: started.elapsedMilliseconds, detail: "\(ErrorText.sentence(error))"))
            throw StorageFault.from(error) ?? error
        }
    }

    /// Closes the phase in progress (failed when `error` is set).
    func end(failed: Bool = false) {
        guard let current else { return }
        phases.append(PhaseReport(name: current.phase.rawValue, outcome: failed ? .failed : .passed,
                                  milliseconds: current.started.elapsedMilliseconds, steps: steps))
        report(current.phase.percent(1), failed ? "failed" : "done")
        self.current = nil
        journal(event: .end(current.phase))
    }

    /// Writes the journal: the phases done, and the one in progress as a Slipway killed now
    /// would leave it (its open step last, marked as where it stopped).
    private func journal(event: JournalEvent, inProgress step: String? = nil) {
        guard let journal else { return }
        var all = phases
        if let current {
            var open = steps
            if let step {
                open.append(StepReport(name: step, outcome: .failed, milliseconds: 0, detail: "in progress when Slipway stopped"))
            }
            all.append(PhaseReport(name: current.phase.rawValue, outcome: .failed, milliseconds: current.started.elapsedMilliseconds, steps: open))
        }
        journal.write(event, phases: all, analysis: analysis, rollback: rollback)
    }

    var phaseInProgress: Phase? { current?.phase }

    /// Keeps a step's analysis for the record; a step that passed is announced.
    func judged(_ step: StepAnalysis) {
        analysis.append(step)
        guard step.decision == .promoted else { return }
        announce?(.stepPassed, "\(environment): step \(step.step) passed at \(step.weight)% of the traffic: \(step.reason)") { $0.step = step.step }
    }

    /// Sleeps between polls, counted as waiting; throws when the run was asked to stop
    /// (checked every quarter second, so a long observation window ends promptly too).
    func pause(for duration: Duration) async throws {
        let started = ContinuousClock.now
        defer { waitingMilliseconds += started.elapsedMilliseconds }
        let end = started + duration
        repeat {
            if let reason = stop?.take() { throw DeploymentFailure(reason: reason, superseded: true) }
            try await Task.sleep(for: min(end - ContinuousClock.now, .milliseconds(250)))
        } while ContinuousClock.now < end
    }

    /// Runs `body`, counting its whole duration as waiting (e.g. a process shutting down).
    @discardableResult
    func waiting<T>(_ body: () async throws -> T) async rethrows -> T {
        let started = ContinuousClock.now
        defer { waitingMilliseconds += started.elapsedMilliseconds }
        return try await body()
    }

    /// Says what a step in progress waits for, without ending it.
    func status(_ message: String) {
        progress.report(ProgressEvent(environment: environment, percent: lastPercent, phase: current?.phase ?? .preflight, message: message, isWaiting: true))
    }

    func report(_ percent: Int, _ message: String, in phase: Phase? = nil) {
        lastPercent = percent
        progress.report(ProgressEvent(environment: environment, percent: percent, phase: phase ?? current?.phase ?? .preflight, message: message))
    }
}

extension ContinuousClock.Instant {
    var elapsedMilliseconds: Int {
        let elapsed = ContinuousClock.now - self
        return Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
    }
}
