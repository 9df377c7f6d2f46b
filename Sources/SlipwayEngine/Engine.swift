import Foundation
public import Logging
public import SlipwayGit
public import SlipwayManifest
public import SlipwayRecords
public import SlipwayHost
import SlipwayTraffic
public import SlipwayCore
public import SlipwayNotifications

/// What the engine needs from its surroundings; passed in, never global.
public struct EngineConfiguration: Sendable {
    public var state: StateDirectory
    /// Slipway's own environment: secrets (`env:NAME`) are read from here.
    public var environment: [String: String]
    /// Where programs named by `run.command` are looked up.
    public var resolver: ExecutableResolver
    public var logger: Logger
    public var progress: any ProgressReporter
    /// Author and committer of record commits.
    public var author: Signature
    /// Delivers the events of runs to the channels their manifests name (`notify:`).
    public var notifier: Notifier
    /// Counts runs, windows and deliveries (see `counting(with:)`); nothing by default.
    public private(set) var telemetry = Telemetry()
    /// Runs stopped because the state directory could not be written, until they are recorded.
    public let faults = StorageFaults()

    public init(state: StateDirectory, environment: [String: String], resolver: ExecutableResolver, logger: Logger,
                progress: any ProgressReporter = SilentProgress(),
                author: Signature = Signature(name: "Slipway", email: "slipway@localhost")) {
        self.state = state
        self.environment = environment
        self.resolver = resolver
        self.logger = logger
        self.progress = progress
        self.author = author
        self.notifier = Notifier(logger: logger)
    }

    /// This configuration counting with `telemetry`, the notifications' deliveries included.
    public func counting(with telemetry: Telemetry) -> EngineConfiguration {
        var configuration = self
        configuration.telemetry = telemetry
        configuration.notifier = Notifier(logger: logger) { telemetry.notification(channel: $0, event: $1, state: $2) }
        return configuration
    }
}

/// What `apply` did for one environment.
public struct ApplyOutcome: Sendable {
    public let plan: EnvironmentPlan
    /// The record, when a deployment ran.
    public let record: DeploymentRecord?
    /// The record commit.
    public let commit: ObjectID?
    /// The commit that put the manifest back after a failure (`rollback.onFailure: revert`).
    public var revert: ObjectID? = nil
    /// Why nothing could be done or recorded for this environment (the others went on).
    public var error: String? = nil
}

/// Reconciles desired with deployed state and writes the results back into git.
public struct Engine: Sendable {
    public let repository: OpsRepository
    public let configuration: EngineConfiguration

    public init(repository: OpsRepository, configuration: EngineConfiguration) {
        self.repository = repository
        self.configuration = configuration
    }

    public var planner: Planner {
        Planner(repository: repository, state: configuration.state, machine: machine, cache: PlanCache(state: configuration.state, repository: repository))
    }

    /// One reconcile pass: deploys every selected environment whose desired state differs
    /// from what runs (upstream environments first) and commits a record for each.
    /// Finishes interrupted runs first (see `recoverInterrupted`) and puts back records git lost
    /// (`restoreCommittedFiles`). The daemon does not call
    /// this: it schedules `deploy` per environment itself.
    /// - Parameter retryFailed: also re-run manifests that failed before.
    public func apply(_ only: [EnvironmentName] = [], retryFailed: Bool = false) async throws -> (plan: Plan, outcomes: [ApplyOutcome]) {
        let lock = try RepositoryLock(file: configuration.state.lockFile)
        defer { withExtendedLifetime(lock) {} }
        var outcomes = try await recoverInterrupted()
        do {
            try await restoreCommittedFiles()
        } catch {
            configuration.logger.error("putting back records failed; tried again on the next pass", metadata: ["error": "\(ErrorText.sentence(error))"])
        }
        // Judged before planning: a signed revert of a failed manifest is a new request only once judged.
        let tip = try await repository.tip()
        let desired = try await desired(at: tip)
        var plan = try await planner.plan(only, at: tip)
        // Removals first, then a new plan: what they freed (an address a renamed manifest keeps) is free for it.
        let removals = plan.environments.filter { $0.action == .remove }
        for environment in removals { outcomes.append(await deployOrSay(environment, desired: desired, at: tip, retryFailed: retryFailed)) }
        if !removals.isEmpty { plan = try await planner.plan(only, at: tip) }
        for environment in plan.environments { outcomes.append(await deployOrSay(environment, desired: desired, at: tip, retryFailed: retryFailed)) }
        return (plan, outcomes)
    }

    /// `deploy`, with an error as the outcome's (the other environments go on).
    private func deployOrSay(_ environment: EnvironmentPlan, desired: DesiredState, at tip: ObjectID, retryFailed: Bool) async -> ApplyOutcome {
        do {
            return try await deploy(environment, desired: desired, at: tip, retryFailed: retryFailed)
        } catch {
            return ApplyOutcome(plan: environment, record: nil, commit: nil, error: "\(ErrorText.sentence(error))")
        }
    }

    /// Runs the pipeline for one planned environment when it needs one (otherwise only stops
    /// warm sets past their time) and commits its record.
    /// - Parameter stop: lets the daemon stop the run when a newer desired state arrives.
    public func deploy(_ environment: EnvironmentPlan, desired: DesiredState, at tip: ObjectID, retryFailed: Bool = false,
                       stop: StopSignal? = nil) async throws -> ApplyOutcome {
        let name = environment.environment
        if environment.action == .remove { return try await remove(environment, desired: desired, at: tip) }
        guard environment.needsRun(retryFailed: retryFailed), let manifest = desired.environments.manifests[name], let blob = desired.blobs[name] else {
            await stopExpiredWarm(name)
            return ApplyOutcome(plan: environment, record: nil, commit: nil)
        }
        try await finishPreviousRun(name)
        let trust = if let trust = desired.trust { trust } else { try await self.desired(at: tip).trust }
        let status = try await repository.deployedStatus(of: name, at: tip, state: configuration.state)
        // Judged again now that the lane is free: the plan was made from what ran then, and a run
        // of the lane that ended since (the daemon's, another environment's promotion into this
        // one) may have deployed it already. What already runs healthy is not deployed again.
        let current = await planner.judgeAgain(environment, manifest: manifest, blob: blob, status: status, tip: tip, open: trust?.open ?? true)
        guard current.needsRun(retryFailed: retryFailed) else {
            configuration.logger.info("nothing to do: deployed since it was planned", metadata: ["env": "\(name)", "version": "\(manifest.version)"])
            return ApplyOutcome(plan: current, record: nil, commit: nil)
        }
        // Under Trust/, the commit that made the manifest count (not whichever side of a merge history lists first).
        let triggerID = if let commit = trust?.commits[name.manifestPath] { commit }
            else { try await repository.git.introducingCommit(of: name.manifestPath, blob: blob, from: tip) }
        var run = PipelineRun(
            environment: name, manifest: manifest, blob: blob, trigger: try await repository.git.commitInfo(triggerID),
            status: status, changes: current.changes,
            repository: repository, engine: configuration, stop: stop, signature: trust?.verdict(name.manifestPath) ?? .refused("not judged under Trust/"))
        run.returning = await run.isReturn()
        let outcome = try await run.run()  // a StoppedRun is like a kill: its journal is finished by recoverInterrupted
        let commit: ObjectID
        do {
            commit = try await self.commit(outcome, of: name)
        } catch {
            // The journal keeps the record for the next pass; the person learns both what happened and why it is not in git.
            throw EngineError("\(outcome.record.result.rawValue): \(outcome.record.reason ?? "done"); its record could not be committed: \(ErrorText.sentence(error))")
        }
        var revert: ObjectID?
        // A manifest refused for its signature says nothing Slipway may act on, its onFailure included.
        if outcome.record.isFailure, !outcome.refused, manifest.rollback.onFailure == .revert {
            revert = try await revertManifest(name, failed: outcome.record, blob: blob, deployed: run.status)
        }
        return ApplyOutcome(plan: environment, record: outcome.record, commit: commit, revert: revert)
    }

    /// Stops the environment's warm sets whose time is up (the housekeeping of an idle environment).
    /// Not while a run's journal waits for recovery: its warm set may be what serves.
    public func stopExpiredWarm(_ name: EnvironmentName) async {
        guard Journal.load(configuration.state.journal(name)) == nil else { return }
        await configuration.state.stopExpiredWarm(name, stopTimeout: .seconds(10), variables: configuration.environment, logger: configuration.logger)
    }

    /// Commits a run's record and status, closes its journal, then sends the run's last event.
    func commit(_ outcome: PipelineRun.Outcome, of name: EnvironmentName) async throws -> ObjectID {
        var record = outcome.record
        record.notifications = configuration.notifier.deliveries(of: record.deployment)
        let commit = try await commitRecord(record, status: outcome.status, upstream: outcome.upstreamStatus)
        configuration.failpoint?.reached("committed")
        Journal.clear(configuration.state.journal(name))
        configuration.telemetry.ended(record)
        outcome.announce?.outcome(record, refused: outcome.refused)
        configuration.state.pruneLogs(name)  // the run's own instances are registered, or their logs written within the hour
        return commit
    }

    /// Commits a record and the environment's status in one commit on the tracked branch.
    @discardableResult
    public func commitRecord(_ record: DeploymentRecord, status: EnvironmentStatus, upstream: EnvironmentStatus? = nil,
                             beforeRefUpdate: (@Sendable () -> Void)? = nil) async throws -> ObjectID {
        let started = ContinuousClock.now
        let name = record.environment
        await migrateRecords(of: name)
        let templates = try await trustedTemplates()
        for (name, problem) in templates.unusable {
            configuration.logger.warning("template not used: the built-in one is", metadata: ["template": "\(name)", "why": "\(problem)"])
        }
        let git = repository.git
        let recordFile = CommittedFiles.File(path: record.path, blob: try await git.writeBlob(Data(templates.render(record).utf8)))
        var statuses = [(name, CommittedFiles.File(path: name.statusPath, blob: try await git.writeBlob(Data(templates.render(status).utf8))))]
        if let upstream {
            let upstreamName = upstream.environment
            statuses.append((upstreamName, .init(path: upstreamName.statusPath, blob: try await git.writeBlob(Data(templates.render(upstream).utf8)))))
        }
        // What Slipway decides from next time (DeployedState): its own copy, not the file anyone can
        // push; and what it puts back should git lose it (RecordKeeping). Saved first: what runs
        // changed when the run ended, whether or not its record lands now.
        try configuration.state.save(status)
        if let upstream { try configuration.state.save(upstream) }
        for (index, (environment, file)) in statuses.enumerated() {
            try configuration.state.rememberCommitted(record: index == 0 ? recordFile : nil, status: file, of: environment)
        }
        let changes = ([recordFile] + statuses.map(\.1)).map { TreeChange.place($0.path, $0.blob) }
        guard let commit = try await git.commit(changes: changes, message: Trailers.message(for: record), author: configuration.author,
                                                onto: repository.branch, beforeRefUpdate: beforeRefUpdate) else {
            throw EngineError("the record of \(record.deployment) was not committed")
        }
        if let problem = await git.takeWorkingTreeProblem() {
            configuration.logger.warning("the record is committed; the index and working tree did not follow", metadata: ["error": "\(problem)"])
        }
        configuration.logger.info("record committed", metadata: [
            "env": "\(record.environment)", "deployment": "\(record.deployment)", "commit": "\(commit.short)", "ms": "\(String(format: "%.1f", (ContinuousClock.now - started) / .milliseconds(1)))",
        ])
        await noteOutcome(of: record, committedIn: commit)
        return commit
    }

    /// Where the outcome of a run is noted on the commit that asked for it.
    public static let notesRef = "refs/notes/slipway"

    /// Notes the outcome on the commit that asked for the run (`git log --notes=slipway` shows
    /// it beside the person's commit): the run's result, versions, reason and record. The note
    /// is Slipway's text only, the last run of that commit (a note someone pushed is replaced,
    /// never carried on); the records keep every run. A failure is logged, never the run's.
    func noteOutcome(of record: DeploymentRecord, committedIn commit: ObjectID) async {
        guard !record.isHeal else { return }  // no commit asked for a heal: the release's note stays
        let reason = record.reason.map { "\n" + String($0.replacingOccurrences(of: "\n", with: " ").prefix(500)) } ?? ""
        let text = """
            \(record.environment): \(record.service) \(record.previousVersion ?? "none") → \(record.version) \(record.result.rawValue)\(reason)
            Deployment \(record.deployment), record \(record.path) (commit \(commit.short))

            """
        do {
            try await repository.git.setNote(Self.notesRef, on: record.trigger, to: text, author: configuration.author)
        } catch {
            configuration.logger.warning("the outcome was not noted on its commit", metadata: ["commit": "\(record.trigger.short)", "error": "\(error)"])
        }
    }
}

extension Engine {
    /// The templates records are rendered with: the ops repo's own over the built-in ones, each
    /// only when this machine accepted it under `Trust/` (a template shapes what Slipway
    /// commits). One that it did not is logged and the built-in one used.
    func trustedTemplates() async throws -> RecordTemplates {
        let tip = try await repository.tip()
        let trust = TrustCheck(repository: repository, state: configuration.state, resolver: configuration.resolver)
        var overrides: [String: String] = [:]
        for file in try await repository.templateFiles(at: tip) {
            if case .refused(let why) = try await trust.acceptance(of: "Templates/\(file.name)", blob: file.blob) {
                configuration.logger.warning("template not used: the built-in one is", metadata: ["template": "\(file.name)", "why": "\(why)"])
                continue
            }
            guard let text = try await repository.templateText(file.blob) else {
                configuration.logger.warning("template not used: the built-in one is", metadata: ["template": "\(file.name)", "why": "larger than \(RecordTemplates.maximumBytes / 1024) KiB"])
                continue
            }
            overrides[file.name] = text
        }
        return RecordTemplates(overrides: overrides)
    }

    /// After a failed deployment, commits the manifest that runs back into
    /// `Environments/<env>.yaml`, so that the branch names the version that runs. Only while the
    /// manifest at the tip is still the one that failed: a newer change someone pushed meanwhile
    /// is never overwritten. Nil when there is nothing to go back to or the manifest moved on.
    func revertManifest(_ name: EnvironmentName, failed record: DeploymentRecord, blob: ObjectID,
                        deployed: EnvironmentStatus?) async throws -> ObjectID? {
        guard let previousBlob = deployed?.manifest, let previousVersion = deployed?.version else {
            configuration.logger.warning("nothing to revert to", metadata: ["env": "\(name)", "deployment": "\(record.deployment)"])
            return nil
        }
        let content = try await repository.git.readBlob(previousBlob)
        let message = CommitMessage.revert(environment: name, service: record.service, failedVersion: record.version,
                                           previousVersion: previousVersion, deployment: record.deployment, result: record.result,
                                           trigger: record.trigger, reason: record.reason)
        let commit = try await repository.git.commit(
            [FileUpdate(path: name.manifestPath, content: content)], message: message, author: configuration.author,
            onto: repository.branch, requiring: [name.manifestPath: blob])
        if let commit {
            configuration.state.rememberOwnCommit(commit)
        } else {
            configuration.logger.notice("manifest changed since the failed deployment; not reverted", metadata: ["env": "\(name)"])
        }
        return commit
    }
}

extension Optional {
    func unwrap(_ what: String) throws -> Wrapped {
        guard let value = self else { throw EngineError("\(what) is missing") }
        return value
    }
}
