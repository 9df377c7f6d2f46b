import Foundation
import Logging
import SlipwayGit
import SlipwayManifest
import SlipwayRecords
import SlipwayHost
import SlipwayTraffic
import SlipwayCore

/// Pre-flight (README, "How a deployment runs"): checks everything the run will need before
/// anything starts, and returns it.
struct Preflight {
    let run: PipelineRun
    let log: RunLog
    let deployment: DeploymentID
    let started: Date

    /// What pre-flight found, for the phases after it.
    struct Prepared {
        let secrets: [String: String]
        let launcher: InstanceLauncher
        let previous: InstanceLauncher?
        let baseline: [InstanceRecord]
        let warm: [InstanceRecord]
        /// What the running version served before the run: the reference of a post-deploy observation.
        let baselineSample: Sample?
        /// What the running version used over its life before the run: the reference of post-deploy's `resources` step.
        let baselineResources: ResourceFigures?
        let strategy: any DeploymentStrategy
        /// The target on the hosts that answered (all of them on this machine).
        let target: any Target
    }

    func callAsFunction(traffic: any TrafficProvider, target: any Target) async throws -> Prepared {
        var target = target
        let (manifest, environment) = (run.manifest, run.environment)
        log.begin(.preflight)
        try await log.step("signature") { try await run.checkSignature() }
        var configured: (secrets: [String: String], launcher: InstanceLauncher)?
        try await log.step("configuration") {
            let checked = try run.checkConfiguration()
            configured = (checked.secrets, checked.launcher)
            return checked.detail
        }
        if let ssh = target as? SSHTarget, let fleet = ssh.fleet {
            try await log.step("hosts") {
                let checked = try await run.checkHosts(ssh, fleet: fleet)
                target = checked.target
                return checked.detail
            }
            if let hosts = target as? SSHTarget, await !run.artifacts().isEmpty {
                try await log.step("artifacts") { try await run.placeArtifacts(on: hosts) }
            }
        }
        try await log.step("records") {
            // Nothing is deployed that could not be recorded.
            if let problem = try await run.repository.recordProblem(environment, startedAt: started, at: try await run.repository.tip()) {
                throw DeploymentFailure(reason: problem)
            }
            return ""
        }
        let returning = run.returning
        try await gates(returning: returning)
        let strategy = returning ? BlueGreenStrategy(spec: .immediate(after: manifest.strategy)) : try manifest.strategy.runner()
        let (secrets, launcher) = try configured.unwrap("the launcher")
        var baseline: [InstanceRecord] = [], warm: [InstanceRecord] = [], baselineSample: Sample?, baselineResources: ResourceFigures?
        try await log.step("traffic") {
            (baseline, warm) = try await run.prepareTraffic(traffic, target: target)
            let stats = try await traffic.stats()
            baselineSample = Sample.lifetime(of: baseline, in: stats)
            baselineResources = ResourceFigures.lifetime(baseline, await ResourceReading.now(of: baseline, target),
                                                         requests: { Sample.between([], stats, servers: $0).requests }, minRequests: manifest.rollback.minRequests)
            return warm.isEmpty ? "" : "\(warm.count) warm at 0% until \(Timestamp.iso(warm[0].warmUntil ?? Date()))"
        }
        try await log.step("target health") { try await run.targetHealth(baseline, traffic: traffic) }
        let previous = await run.previousLauncher()
        // Only blue-green keeps the running set warm; rolling and canary retire it, so the way back is a restart.
        let keptWarm: [InstanceRecord] = if case .blueGreen(let spec) = manifest.strategy, spec.keepPrevious.milliseconds > 0 { warm + baseline } else { warm }
        try await log.step("rollback path") { try await run.rollbackPath(previous, warm: keptWarm, on: target) }
        if let hook = manifest.hooks.preDeploy {
            try await log.step("hook preDeploy") { try await run.runHook("preDeploy", hook, deployment: deployment) }
        }
        log.end()
        return Prepared(secrets: secrets, launcher: launcher, previous: previous, baseline: baseline, warm: warm,
                        baselineSample: baselineSample, baselineResources: baselineResources, strategy: strategy, target: target)
    }

    /// The pre-flight gates and the checklist (not asked again when going back, see `isReturn`).
    private func gates(returning: Bool) async throws {
        let runner = run.gateRunner(deployment: deployment)
        for gate in run.manifest.gates.preflight {
            try await log.step("gate \(gate.name)") { try await run.check(gate, with: runner) }
        }
        let manifest = run.manifest
        guard !manifest.gates.checklist.isEmpty else { return }
        guard !returning else {
            return try await log.step("checklist") { "not asked: \(manifest.version) ran here before and rollback.gated is false" }
        }
        try await log.step("checklist") {
            let approval = try await run.repository.awaitApproval(
                of: run.environment, manifest: run.blob, since: run.trigger.id, timeout: manifest.gates.approvalTimeout, trust: run.trust,
                checklist: manifest.gates.checklist, log: log)
            return "approved by \(approval.approver) (commit \(approval.commit.short)): \(manifest.gates.checklist.joined(separator: "; "))"
        }
    }
}

extension PipelineRun {
    /// Pre-flight: when the ops repo names allowed signers, this manifest was accepted under
    /// them: the commit that made it is signed by one of them, or was made by Slipway here.
    func checkSignature() async throws -> String {
        switch signature {
        case .open:
            return ""  // not required: the ops repo has no Trust/
        case .trusted(let signer):
            return "\(trigger.id.short) \(signer)".trimmingCharacters(in: .whitespaces)
        case .refused(let reason):
            throw DeploymentFailure(reason: "refused: \(reason)", refused: true)
        }
    }

    /// Pre-flight: what the manifest asks of this machine is there — a target Slipway drives,
    /// gates it can honour, the secrets, the program.
    func checkConfiguration() throws -> (secrets: [String: String], launcher: InstanceLauncher, detail: String) {
        guard manifest.target.kind != .kubernetes else {
            throw DeploymentFailure(reason: "target.kind kubernetes is not built into Slipway (README, \"Many machines\", says how it would fit); use process or ssh")
        }
        let gates = manifest.gates
        let secrets = try resolveSecrets(manifest)
        let launcher = try launcher(for: manifest, blob: blob, secrets: secrets)
        let parts = [secrets.isEmpty ? nil : "secrets \(secrets.keys.sorted().joined(separator: ", ")) set",
                     gates.preflight.isEmpty ? nil : "\(gates.preflight.count) pre-flight gate(s)",
                     gates.smoke.isEmpty ? nil : "\(gates.smoke.count) smoke check(s)",
                     gates.observe.map { "post-deploy observation for \($0)" }].compactMap { $0 }
        guard manifest.target.kind == .process else {
            // On a fleet the program is looked for on each host (the "hosts" step).
            if manifest.run.workingDirectory != nil {
                throw DeploymentFailure(reason: "run.workingDirectory is for process targets: on ssh hosts instances run in their environment's folder under target.stateDirectory")
            }
            return (secrets, launcher, parts.joined(separator: ", "))
        }
        if let named = manifest.run.workingDirectory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: launcher.workingDirectory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw DeploymentFailure(reason: "run.workingDirectory \(named) (\(launcher.workingDirectory.path)) is not a folder on this machine; Slipway creates none but its own")
            }
        }
        guard launcher.executable() != nil else { throw DeploymentFailure(reason: "run.command: \(launcher.executableProblem)") }
        if signature != .open { try checkNothingRunsFromRepository(workingDirectory: launcher.workingDirectory) }
        return (secrets, launcher, parts.joined(separator: ", "))
    }

    /// Under `Trust/` only signed files decide what runs, and the ops repo's working tree holds
    /// files nobody signed (anything pushed outside the trusted folders, anything left in the
    /// clone): no program, script or working directory may come from it (README, "Security model").
    func checkNothingRunsFromRepository(workingDirectory: URL) throws {
        func refuse(_ what: String) -> DeploymentFailure {
            DeploymentFailure(reason: "refused: \(what) is in the ops repo; under \(TrustCheck.folder)/ nothing runs from its working tree, which holds files nobody signed (install programs and scripts outside the repository)", refused: true)
        }
        if manifest.run.workingDirectory != nil, isInRepository(workingDirectory) {
            throw refuse("run.workingDirectory \(workingDirectory.path)")
        }
        for (field, arguments) in manifest.commands {
            if let what = fromRepository(arguments, workingDirectory: workingDirectory) { throw refuse("\(field) \(what)") }
        }
    }

    /// What of `arguments` comes from the ops repo's working tree (the program, or an argument
    /// naming a file there, absolute or from the working directory, or a shell line that names
    /// the repository); nil when nothing does.
    func fromRepository(_ arguments: [String], workingDirectory: URL) -> String? {
        if let program = arguments.first, let executable = engine.resolver.resolve(program, in: workingDirectory), isInRepository(executable) {
            return program
        }
        let root = repositoryRoot
        for argument in arguments.dropFirst() {
            let file = argument.hasPrefix("/") ? URL(fileURLWithPath: argument) : workingDirectory.appendingPathComponent(argument)
            if FileManager.default.fileExists(atPath: file.path) && isInRepository(file) || argument.contains(root + "/") {
                return "argument \(argument)"
            }
        }
        return nil
    }

    private var repositoryRoot: String { (repository.git.workingDirectory ?? repository.git.gitDirectory).resolvingSymlinksInPath().path }

    /// Inside the ops repo, and not in Slipway's own state directory there.
    private func isInRepository(_ url: URL) -> Bool {
        let path = url.resolvingSymlinksInPath().path
        func under(_ folder: String) -> Bool { path == folder || path.hasPrefix(folder.hasSuffix("/") ? folder : folder + "/") }
        return under(repositoryRoot) && !under(engine.state.root.resolvingSymlinksInPath().path)
    }

    /// Pre-flight: the running version is healthy before it is touched. A rollback is exempt: it
    /// must stay possible when the running version is the problem.
    func targetHealth(_ baseline: [InstanceRecord], traffic: any TrafficProvider) async throws -> String {
        guard !baseline.isEmpty else { return "nothing runs yet" }
        let stats = Dictionary(try await traffic.stats().map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let down = baseline.filter { stats[$0.id]?.health != .up }
        guard down.isEmpty || trigger.isRollback || returning else {
            throw DeploymentFailure(reason: "the running \(baseline[0].version) is not healthy (\(down.map { "\($0.id): \(stats[$0.id]?.lastCheck ?? "no check yet")" }.joined(separator: ", "))); fix it, or roll back with slipway rollback \(environment)")
        }
        return down.isEmpty ? "" : "\(down.count) down, going ahead: this is a rollback"
    }

    /// Pre-flight: the version that runs now could be put back — it is warm, or its program
    /// can still be started.
    func rollbackPath(_ previous: InstanceLauncher?, warm: [InstanceRecord], on target: any Target) async throws -> String {
        guard let version = status?.version else { return "first deployment: nothing to roll back to" }
        if await !target.running(warm.filter { $0.manifest == status?.manifest }).isEmpty { return "\(version) is running and can take the traffic back" }
        guard let previous else {
            throw DeploymentFailure(reason: "cannot roll back to \(version): its manifest \(status?.manifest?.short ?? "?") is unreadable or its secrets are not set")
        }
        // On a fleet the program is on the hosts, where it ran (an artifact stays in place there).
        guard previous.manifest.target.kind == .ssh || previous.executable() != nil else {
            throw DeploymentFailure(reason: "cannot roll back to \(version): its program \(previous.manifest.run.command[0]) is gone")
        }
        return ""  // it can be started again
    }

    /// One pre-flight gate: a git note on the trigger commit, or a command that must exit 0.
    func check(_ gate: CommandGate, with runner: GateRunner) async throws -> String {
        if let note = gate.note {
            let text = try await repository.git.note(note.ref, on: trigger.id)
            guard let text, text.contains(note.contains) else {
                let found = text.map { "says \"\($0.split(separator: "\n").first ?? "")\"" } ?? "is missing"
                throw DeploymentFailure(reason: "gate \(gate.name): the note \(note.ref) on \(trigger.id.short) \(found); it must contain \"\(note.contains)\"")
            }
            return "\(note.ref) on \(trigger.id.short): \(text.split(separator: "\n").first ?? "")"
        }
        let result = try await runner.run(gate.name, gate.command, timeout: gate.timeout)
        guard result.passed else {
            throw DeploymentFailure(reason: result.failureReason("gate \(gate.name)", timeout: gate.timeout),
                                    logs: [InstanceLog(instance: "gate \(gate.name)", lines: result.tail.isEmpty ? ["(no output)"] : result.tail)])
        }
        if gate.backup {
            guard let name = result.tail.last(where: { !$0.isEmpty }) else {
                throw DeploymentFailure(reason: "gate \(gate.name) is a backup but printed no backup name")
            }
            state.backup = name
            return "backup \(name)"
        }
        return result.detail
    }

    /// Starts or reloads HAProxy for this environment and makes its servers match the live
    /// instances of the target (warm sets past their time stopped first, dead ones forgotten,
    /// strays removed). Returns the serving baseline and the warm set still kept.
    func prepareTraffic(_ traffic: any TrafficProvider, target: any Target) async throws -> (serving: [InstanceRecord], warm: [InstanceRecord]) {
        await engine.state.stopExpiredWarm(environment, stopTimeout: manifest.run.stopTimeout.duration, variables: engine.environment, logger: engine.logger)
        let live = try await target.forgetStopped()
        var settings = FrontSettings(
            listen: manifest.traffic.listen.description, healthPath: manifest.health.http.path, expectStatus: manifest.health.http.expect,
            intervalMilliseconds: manifest.health.interval.milliseconds, timeoutMilliseconds: manifest.health.timeout.milliseconds,
            rise: manifest.health.healthyThreshold, fall: manifest.health.unhealthyThreshold, preview: previewAddress)
        settings.stats = manifest.traffic.stats?.description
        let weight = { (instance: InstanceRecord) in instance.warmUntil == nil ? 100 : 0 }
        try await traffic.ensureRunning(settings, servers: Dictionary(uniqueKeysWithValues: live.map { ($0.backend, weight($0)) }))
        let known = Set(try await traffic.stats().map(\.name))
        for instance in live where !known.contains(instance.id) {
            try await traffic.add(instance.backend)
            try await traffic.setWeights([instance.id: weight(instance)])
        }
        for stray in known.subtracting(live.map(\.id)) { try await traffic.remove(stray) }
        let sorted = live.sorted { $0.startedAt < $1.startedAt }
        return (sorted.filter { $0.warmUntil == nil }, sorted.filter { $0.warmUntil != nil })
    }
}
