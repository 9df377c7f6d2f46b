import Foundation
import Logging
import SlipwayGit
import SlipwayManifest
import SlipwayRecords
import SlipwayRuntime
import SlipwayTraffic

/// One pipeline run for one environment: pre-flight → staging → production → post-deploy,
/// ending in a record and a status. Never throws: every failure ends up in the record.
struct PipelineRun {
    let environment: EnvironmentName
    let manifest: Manifest
    let blob: ObjectID
    let trigger: CommitInfo
    /// Deployed state at the start (nil: never deployed).
    let status: EnvironmentStatus?
    let changes: [FieldChange]
    let repository: OpsRepository
    let engine: EngineConfiguration
    /// Set by the daemon to stop the run when a newer desired state arrives.
    var stop: StopSignal? = nil
    /// How `Trust/` judged this manifest when the branch was read (`TrustLedger`).
    var signature: TrustCheck.Verdict = .refused("not judged under Trust/")

    struct Outcome {
        var record: DeploymentRecord
        let status: EnvironmentStatus
        /// The upstream's status, marked validated by this run (committed with the record).
        var upstreamStatus: EnvironmentStatus?
        /// The manifest was refused for its signature: nothing it says is acted on.
        var refused = false
    }

    func run() async -> Outcome {
        let started = Date()
        let clock = ContinuousClock.now
        let deployment = deploymentID(startedAt: started)
        let journal = Journal(file: engine.state.journal(environment),
                              draft: record(deployment, started: started, result: .interrupted, reason: nil, phases: [], instances: [], logs: []),
                              failpoint: engine.failpoint)
        let log = RunLog(environment: environment.rawValue, progress: engine.progress, journal: journal, stop: stop)
        let target = engine.target(for: manifest, in: environment)
        let traffic = engine.state.traffic(environment, logger: engine.logger)
        var secrets: [String: String] = [:]
        var serving: [InstanceRecord] = []
        var failure: DeploymentFailure?
        var context: DeploymentContext?
        /// Set once the new version took all the traffic: a failure after that rolls back.
        var promoted = false
        var baselineSample: Sample?

        do {
            log.begin(.preflight)
            try await log.step("signature") { try await checkSignature() }
            var configured: InstanceLauncher?
            try await log.step("configuration") {
                let checked = try checkConfiguration()
                (secrets, configured) = (checked.secrets, checked.launcher)
                return checked.detail
            }
            try await log.step("records") {
                // Nothing is deployed that could not be recorded.
                if let problem = try await repository.recordProblem(environment, startedAt: started, at: try await repository.tip()) {
                    throw DeploymentFailure(reason: problem)
                }
                return ""
            }
            let runner = gateRunner(deployment: deployment)
            for gate in manifest.gates.preflight {
                try await log.step("gate \(gate.name)") { try await check(gate, with: runner) }
            }
            if !manifest.gates.checklist.isEmpty {
                try await log.step("checklist") {
                    let approval = try await repository.awaitApproval(
                        of: environment, manifest: blob.hex, since: trigger.id, timeout: manifest.gates.approvalTimeout, trust: trust, log: log)
                    return "approved by \(approval.approver) (commit \(approval.commit.short)): \(manifest.gates.checklist.joined(separator: "; "))"
                }
            }
            let strategy = try manifest.strategy.runner()
            let launcher = try configured.unwrap("the launcher")
            var baseline: [InstanceRecord] = [], warm: [InstanceRecord] = []
            try await log.step("traffic") {
                (baseline, warm) = try await prepareTraffic(traffic, target: target)
                baselineSample = try await Sample.lifetime(of: baseline, traffic)
                return warm.isEmpty ? "" : "\(warm.count) warm at 0% until \(Timestamp.iso(warm[0].warmUntil ?? Date()))"
            }
            try await log.step("target health") { try await targetHealth(baseline, traffic: traffic) }
            let previous = await previousLauncher()
            // Only blue-green keeps the running set warm; rolling and canary retire it, so the way back is a restart.
            let keptWarm: [InstanceRecord] = if case .blueGreen(let spec) = manifest.strategy, spec.keepPrevious.milliseconds > 0 { warm + baseline } else { warm }
            try await log.step("rollback path") { try rollbackPath(previous, warm: keptWarm) }
            if let hook = manifest.hooks.preDeploy {
                try await log.step("hook preDeploy") { try await runHook("preDeploy", hook, deployment: deployment) }
            }
            log.end()

            if let upstream = manifest.upstream {
                log.begin(.staging)
                try await stage(in: upstream, log: log, deployment: deployment)
                log.end()
            } else {
                log.skip(.staging, because: "no upstream environment")
            }

            log.begin(.production)
            let production = DeploymentContext(
                environment: environment, launcher: launcher, previous: previous,
                traffic: traffic, repository: repository, target: target, baseline: baseline, warm: warm, weight: 100,
                smoke: smokeChecks,
                redactor: Redactor(secrets: Array(secrets.values)), log: log, logger: engine.logger)
            context = production
            serving = try await strategy.run(production)
            log.end()

            log.begin(.postDeploy)
            promoted = true
            try await log.step("instances healthy") { try await verifyServing(serving, traffic: traffic) }
            try await log.step("front answers") { try verifyFront() }
            if !manifest.gates.smoke.isEmpty {
                try await log.step("smoke checks on the front") {
                    let listen = manifest.traffic.listen
                    if let failure = smokeChecks.failure(host: listen.host, ports: [("the front", listen.port)]) {
                        throw DeploymentFailure(reason: failure, trigger: .smoke)
                    }
                    return "\(manifest.gates.smoke.count) passed on \(listen)"
                }
            }
            if !manifest.gates.endpoints.isEmpty {
                try await log.step("endpoints answer") { try checkEndpoints() }
            }
            if let monitoring = manifest.gates.monitoring {
                try await log.step("monitoring active") { try checkMonitoring(monitoring, serving) }
            }
            if manifest.upstream == nil {
                for gate in manifest.gates.integration {
                    try await log.step("integration \(gate.name)") {
                        let result = try await gateRunner(deployment: deployment).run(gate.name, gate.command, timeout: gate.timeout)
                        guard result.passed else {
                            throw DeploymentFailure(reason: result.failureReason("integration \(gate.name)", timeout: gate.timeout), trigger: .smoke)
                        }
                        return result.detail
                    }
                }
            }
            if let window = manifest.gates.observe {
                try await log.step("observe for \(window)") { try await observe(serving, for: window, against: baselineSample, production) }
            }
            if let hook = manifest.hooks.postDeploy {
                try await log.step("hook postDeploy") { try await runHook("postDeploy", hook, deployment: deployment, trigger: .smoke) }
            }
            log.end()
        } catch {
            failure = error as? DeploymentFailure ?? DeploymentFailure(reason: "\(ErrorText.sentence(error))")
            if log.rollback == nil, let context {
                // After promotion: the new set serves. Before it (a run stopped mid-rollout): whatever of the new version runs.
                let fresh = promoted ? serving : target.instances().filter { $0.manifest == blob.hex && $0.manifest != status?.manifest }
                if !fresh.isEmpty {
                    await context.rollBackAfterPromotion(fresh, trigger: failure?.superseded == true ? .superseded : failure?.trigger ?? .health,
                                                         reason: failure?.reason ?? "post-deploy failed")
                }
            }
            if log.rollback != nil, let backup = backupName, let restore = manifest.rollback.restore {
                try? await log.step("restore \(backup)") {
                    let result = try await gateRunner(deployment: deployment).run("restore", restore, timeout: .seconds(600), extra: ["backup": backup])
                    let output = result.tail.suffix(3).joined(separator: " / ")
                    guard result.passed else { throw DeploymentFailure(reason: "restore \(backup): \(result.explain(.seconds(600))): \(output)") }
                    return "\(restore.first ?? "restore") \(backup): exit 0\(output.isEmpty ? "" : " — \(output)")"
                }
            }
            if log.rollback != nil, let hook = manifest.hooks.onRollback {
                try? await log.step("hook onRollback") { try await runHook("onRollback", hook, deployment: deployment) }
            }
            log.end(failed: true)
        }
        var outcome = finish(deployment, started: started, log: log, target: target, failure: failure)
        outcome.refused = failure?.refused ?? false
        outcome.record.timing = Timing(totalMilliseconds: clock.elapsedMilliseconds, waitingMilliseconds: log.waitingMilliseconds)
        outcome.record.analysis = log.analysis
        outcome.record.rollback = log.rollback
        outcome.record.upstreamDeployment = state.upstreamDeployment
        if failure == nil, let validated = state.upstreamStatus { outcome.upstreamStatus = validated }
        journal.finished(outcome.record, status: outcome.status, upstream: outcome.upstreamStatus)
        return outcome
    }

    // MARK: Steps

    /// What the run learns on the way (the backup's name, the staging validation).
    private var backupName: String? { state.backup }
    let state = RunState()

    /// Used by the run's own task only.
    final class RunState {
        /// The backup a `backup: true` gate named.
        var backup: String?
        /// The upstream's status, marked validated by this run.
        var upstreamStatus: EnvironmentStatus?
        /// The deployment in the upstream that ran the version this run validated.
        var upstreamDeployment: String?
    }

    func gateRunner(deployment: String) -> GateRunner {
        let url = manifest.traffic.listen.url
        let context = [
            "SLIPWAY_ENV": environment.rawValue, "SLIPWAY_SERVICE": manifest.service, "SLIPWAY_VERSION": manifest.version,
            "SLIPWAY_PREVIOUS_VERSION": status?.version ?? "", "SLIPWAY_COMMIT": trigger.id.hex, "SLIPWAY_DEPLOYMENT": deployment,
            "SLIPWAY_URL": url,
        ]
        return GateRunner(
            resolver: engine.resolver, workingDirectory: (try? workingDirectory(manifest)) ?? engine.state.work(environment),
            outputDirectory: engine.state.environment(environment).appendingPathComponent("gates"), deployment: deployment,
            values: ["commit": trigger.id.hex, "version": manifest.version, "env": environment.rawValue,
                     "service": manifest.service, "url": url],
            environment: engine.environment.filter { Self.inheritedVariables.contains($0.key) }.merging(context) { _, new in new },
            redactor: redactor)
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

    var trust: TrustCheck { TrustCheck(repository: repository, state: engine.state, resolver: engine.resolver) }

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
        guard manifest.target.kind == .process else {
            throw DeploymentFailure(reason: "target.kind \(manifest.target.kind.rawValue) is not available in this version of Slipway yet; use process")
        }
        let gates = manifest.gates
        guard gates.monitor == nil || manifest.upstream != nil else {
            throw DeploymentFailure(reason: "gates.monitor is the soak time in the upstream environment: set upstream, or use gates.observe to watch this one after the rollout")
        }
        let secrets = try resolveSecrets(manifest)
        let launcher = try launcher(for: manifest, blob: blob.hex, secrets: secrets)
        if let named = manifest.run.workingDirectory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: launcher.workingDirectory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw DeploymentFailure(reason: "run.workingDirectory \(named) (\(launcher.workingDirectory.path)) is not a folder on this machine; Slipway creates none but its own")
            }
        }
        guard launcher.executable() != nil else { throw DeploymentFailure(reason: "run.command: \(launcher.executableProblem)") }
        if signature != .open { try checkNothingRunsFromRepository(workingDirectory: launcher.workingDirectory) }
        let parts = [secrets.isEmpty ? nil : "secrets \(secrets.keys.sorted().joined(separator: ", ")) set",
                     gates.preflight.isEmpty ? nil : "\(gates.preflight.count) pre-flight gate(s)",
                     gates.smoke.isEmpty ? nil : "\(gates.smoke.count) smoke check(s)",
                     gates.observe.map { "post-deploy observation for \($0)" }].compactMap { $0 }
        return (secrets, launcher, parts.joined(separator: ", "))
    }

    /// Pre-flight: the running version is healthy before it is touched. A rollback is exempt: it
    /// must stay possible when the running version is the problem.
    func targetHealth(_ baseline: [InstanceRecord], traffic: any TrafficProvider) async throws -> String {
        guard !baseline.isEmpty else { return "nothing runs yet" }
        let stats = Dictionary(try await traffic.stats().map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let down = baseline.filter { stats[$0.id]?.health != .up }
        guard down.isEmpty || trigger.isRollback else {
            throw DeploymentFailure(reason: "the running \(baseline[0].version) is not healthy (\(down.map { "\($0.id): \(stats[$0.id]?.checkStatus ?? "no check")" }.joined(separator: ", "))); fix it, or roll back with slipway rollback \(environment)")
        }
        return down.isEmpty ? "" : "\(down.count) down, going ahead: this is a rollback"
    }

    /// Pre-flight: the version that runs now could be put back — it is warm, or its program
    /// can still be started.
    func rollbackPath(_ previous: InstanceLauncher?, warm: [InstanceRecord]) throws -> String {
        guard let version = status?.version else { return "first deployment: nothing to roll back to" }
        if warm.contains(where: { $0.manifest == status?.manifest && $0.isRunning }) { return "\(version) is running and can take the traffic back" }
        guard let previous else {
            throw DeploymentFailure(reason: "cannot roll back to \(version): its manifest \(status?.manifest?.prefix(7) ?? "?") is unreadable or its secrets are not set")
        }
        guard previous.executable() != nil else {
            throw DeploymentFailure(reason: "cannot roll back to \(version): its program \(previous.manifest.run.command[0]) is gone")
        }
        return ""  // it can be started again
    }

    func runHook(_ name: String, _ command: [String], deployment: String, trigger: RollbackTrigger? = nil) async throws -> String {
        let result = try await gateRunner(deployment: deployment).run("hook-\(name)", command, timeout: .seconds(600))
        let output = result.tail.suffix(5).joined(separator: " / ")
        guard result.passed else {
            throw DeploymentFailure(reason: "hook \(name) failed (\(result.explain(.seconds(600)))): \(output)", trigger: trigger)
        }
        return "exit 0" + (output.isEmpty ? "" : ": \(output)")
    }

    /// Post-deploy: every listed path answers through the front (any status below 500).
    func checkEndpoints() throws -> String {
        let listen = manifest.traffic.listen
        for path in manifest.gates.endpoints {
            let response = try? HTTPProbe.get(host: listen.host, port: listen.port, path: path, timeout: manifest.health.timeout.duration + .seconds(1))
            guard let response, response.status < 500 else {
                throw DeploymentFailure(reason: "endpoint \(path) \(response.map { "answered \($0.status)" } ?? "did not answer") on \(listen)", trigger: .smoke)
            }
        }
        return "\(manifest.gates.endpoints.count) endpoint(s) answer on \(listen)"
    }

    /// Post-deploy: monitoring is active (every instance's metrics path, a monitoring server's URL).
    func checkMonitoring(_ monitoring: Monitoring, _ serving: [InstanceRecord]) throws -> String {
        var checked: [String] = []
        if let path = monitoring.path {
            let checks = SmokeChecks(checks: [SmokeCheck(name: "monitoring", http: HTTPCheck(path: path, expect: 200))], timeout: .seconds(2))
            if let failure = checks.failure(ports: serving.map { ($0.id, $0.port) }) { throw DeploymentFailure(reason: failure, trigger: .health) }
            checked.append("\(path) on \(serving.count) instance(s)")
        }
        if let url = monitoring.url, let target = Rules.httpURL(url) {
            let response = try? HTTPProbe.get(host: target.host, port: target.port, path: target.path, timeout: .seconds(2))
            guard response?.status == 200 else {
                throw DeploymentFailure(reason: "monitoring \(url) \(response.map { "answered \($0.status)" } ?? "did not answer")", trigger: .health)
            }
            checked.append(url)
        }
        return checked.joined(separator: ", ")
    }

    /// Watches the new set for `window` and judges it against the pre-deploy baseline.
    func observe(_ serving: [InstanceRecord], for window: TimeSpan, against baseline: Sample?, _ context: DeploymentContext) async throws -> String {
        let names = Set(serving.map(\.id))
        let before = try await context.traffic.stats()
        try await context.log.pause(for: window.duration)
        let sample = Sample.between(before, try await context.traffic.stats(), servers: names)
        let (verdict, reason) = Judge(policy: manifest.rollback).judge(canary: sample, baseline: nil, reference: baseline)
        if case .fail(let trigger) = verdict {
            throw DeploymentFailure(reason: "post-deploy observation: \(reason)", trigger: trigger)
        }
        return verdict == .inconclusive ? "inconclusive: \(reason)" : reason
    }

    func resolveSecrets(_ manifest: Manifest) throws -> [String: String] {
        var values: [String: String] = [:]
        for (name, reference) in manifest.run.secrets {
            guard let value = engine.environment[reference.variable] else {
                throw DeploymentFailure(reason: "secret \(name): \(reference.variable) is not set in Slipway's environment")
            }
            guard !value.isEmpty else {
                throw DeploymentFailure(reason: "secret \(name): \(reference.variable) is set but empty in Slipway's environment")
            }
            values[name] = value
        }
        return values
    }

    func launcher(for manifest: Manifest, blob: String, secrets: [String: String]) throws -> InstanceLauncher {
        InstanceLauncher(
            environment: environment, manifest: manifest, manifestBlob: blob, commit: trigger.id.hex, secrets: secrets,
            state: engine.state, resolver: engine.resolver, workingDirectory: try workingDirectory(manifest),
            inherited: engine.environment.filter { Self.inheritedVariables.contains($0.key) })
    }

    /// Under `Trust/` only signed files decide what runs, and the ops repo's working tree holds
    /// files nobody signed (anything pushed outside the trusted folders, anything left in the
    /// clone): no program, script or working directory may come from it (README, "Security model").
    func checkNothingRunsFromRepository(workingDirectory: URL) throws {
        let repository = (repository.git.workingDirectory ?? repository.git.gitDirectory).resolvingSymlinksInPath().path
        let own = engine.state.root.resolvingSymlinksInPath().path
        func inRepository(_ url: URL) -> Bool {
            let path = url.resolvingSymlinksInPath().path
            func under(_ folder: String) -> Bool { path == folder || path.hasPrefix(folder.hasSuffix("/") ? folder : folder + "/") }
            return under(repository) && !under(own)
        }
        func refuse(_ what: String) -> DeploymentFailure {
            DeploymentFailure(reason: "refused: \(what) is in the ops repo; under \(TrustCheck.folder)/ nothing runs from its working tree, which holds files nobody signed (install programs and scripts outside the repository)", refused: true)
        }
        if manifest.run.workingDirectory != nil, inRepository(workingDirectory) {
            throw refuse("run.workingDirectory \(workingDirectory.path)")
        }
        for (field, arguments) in manifest.commands {
            if let program = arguments.first, let executable = engine.resolver.resolve(program, in: workingDirectory), inRepository(executable) {
                throw refuse("\(field) \(program)")
            }
            // An argument naming a file there, absolute or from the working directory, or a shell line that names the repository.
            for argument in arguments.dropFirst() {
                let file = argument.hasPrefix("/") ? URL(fileURLWithPath: argument) : workingDirectory.appendingPathComponent(argument)
                if FileManager.default.fileExists(atPath: file.path) && inRepository(file) || argument.contains(repository + "/") {
                    throw refuse("\(field) argument \(argument)")
                }
            }
        }
    }

    static let inheritedVariables: Set<String> = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER"]

    func workingDirectory(_ manifest: Manifest) throws -> URL {
        guard let directory = manifest.run.workingDirectory else { return engine.state.work(environment) }
        if directory.hasPrefix("/") { return URL(fileURLWithPath: directory) }
        let root = repository.git.workingDirectory ?? repository.git.gitDirectory
        return root.appendingPathComponent(directory).standardizedFileURL
    }

    /// The launcher of the version that runs now, to restore it if the rollout fails.
    func previousLauncher() async -> InstanceLauncher? {
        guard let blob = status?.manifest, let manifest = await repository.manifest(blob: blob, path: environment.manifestPath),
              let secrets = try? resolveSecrets(manifest) else { return nil }
        return try? launcher(for: manifest, blob: blob, secrets: secrets)
    }

    /// Starts or reloads HAProxy for this environment and makes its servers match the live
    /// instances of the target (warm sets past their time stopped first, dead ones forgotten,
    /// strays removed). Returns the serving baseline and the warm set still kept.
    func prepareTraffic(_ traffic: any TrafficProvider, target: any Target) async throws -> (serving: [InstanceRecord], warm: [InstanceRecord]) {
        await engine.state.stopExpiredWarm(environment, stopTimeout: manifest.run.stopTimeout.duration, logger: engine.logger)
        let live = try target.forgetStopped()
        let settings = FrontSettings(
            listen: manifest.traffic.listen.description, healthPath: manifest.health.http.path, expectStatus: manifest.health.http.expect,
            intervalMilliseconds: manifest.health.interval.milliseconds, timeoutMilliseconds: manifest.health.timeout.milliseconds,
            rise: manifest.health.healthyThreshold, fall: manifest.health.unhealthyThreshold, preview: previewAddress)
        let weight = { (instance: InstanceRecord) in instance.warmUntil == nil ? 100 : 0 }
        try await traffic.ensureRunning(settings, servers: Dictionary(uniqueKeysWithValues: live.map { (BackendServer(name: $0.id, port: $0.port), weight($0)) }))
        let known = Set(try await traffic.stats().map(\.name))
        for instance in live where !known.contains(instance.id) {
            try await traffic.add(BackendServer(name: instance.id, port: instance.port))
            try await traffic.setWeights([instance.id: weight(instance)])
        }
        for stray in known.subtracting(live.map(\.id)) { try await traffic.remove(stray) }
        let sorted = live.sorted { $0.startedAt < $1.startedAt }
        return (sorted.filter { $0.warmUntil == nil }, sorted.filter { $0.warmUntil != nil })
    }

    /// Masks the values of this manifest's secrets in whatever the run writes.
    var redactor: Redactor {
        Redactor(secrets: manifest.run.secrets.compactMap { engine.environment[$0.value.variable] })
    }

    var smokeChecks: SmokeChecks {
        SmokeChecks(checks: manifest.gates.smoke, timeout: manifest.health.timeout.duration + .seconds(1))
    }

    var previewAddress: String? {
        if case .blueGreen(let spec) = manifest.strategy { return spec.preview?.description }
        return nil
    }

    /// The staging phase: the version must run in `upstream` and pass there — promoted and
    /// deployed in this run when it does not run yet, then smoke checks, integration commands
    /// and a soak with health and error analysis. A validation of the same version and manifest
    /// from an earlier run is reused.
    func stage(in upstream: EnvironmentName, log: RunLog, deployment: String) async throws {
        var status = try await repository.deployedStatus(of: upstream, at: try await repository.tip(), state: engine.state)
        if let status, status.version == manifest.version, status.validatedVersion == manifest.version, status.validatedFor == blob.hex {
            try await log.step("reuse the validation in \(upstream)") {
                state.upstreamDeployment = status.validatedIn
                return "\(upstream) validated \(manifest.version) for this manifest in \(status.validatedIn ?? "?")"
            }
            return
        }
        if status?.version != manifest.version || status?.failedVersion == manifest.version {
            try await log.step("promote \(manifest.version) to \(upstream)", at: 0.1) {
                let record = try await promote(to: upstream)
                guard !record.isFailure && record.result != .superseded else {
                    throw DeploymentFailure(reason: "\(manifest.version) \(record.result.rawValue) in \(upstream) (\(record.deployment)): \(record.reason ?? "")",
                                            superseded: record.result == .superseded)
                }
                return "\(upstream) \(record.result.rawValue): deployment \(record.deployment)"
            }
            status = try await repository.deployedStatus(of: upstream, at: try await repository.tip(), state: engine.state)
        }
        guard var validated = status, validated.version == manifest.version,
              let upstreamManifest = try await repository.desired(at: try await repository.tip()).environments.manifests[upstream] else {
            throw DeploymentFailure(reason: "\(upstream) does not run \(manifest.version)")
        }
        let listen = upstreamManifest.traffic.listen
        if !manifest.gates.smoke.isEmpty {
            try await log.step("smoke checks in \(upstream)", at: 0.5) {
                if let failure = smokeChecks.failure(host: listen.host, ports: [(upstream.rawValue, listen.port)]) {
                    throw DeploymentFailure(reason: "in \(upstream): \(failure)")
                }
                return "\(manifest.gates.smoke.count) passed on \(listen)"
            }
        }
        let url = listen.url
        let runner = gateRunner(deployment: deployment)
        for gate in manifest.gates.integration {
            try await log.step("integration \(gate.name) in \(upstream)", at: 0.6) {
                let result = try await runner.run(gate.name, gate.command, timeout: gate.timeout, extra: ["url": url, "env": upstream.rawValue])
                guard result.passed else {
                    throw DeploymentFailure(reason: result.failureReason("integration \(gate.name)", in: upstream.rawValue, timeout: gate.timeout),
                                            logs: [InstanceLog(instance: "integration \(gate.name)", lines: result.tail)])
                }
                return result.detail
            }
        }
        if let soak = manifest.gates.monitor {
            try await log.step("soak in \(upstream) for \(soak)", at: 0.8) { try await soakIn(upstream, for: soak, log: log) }
        }
        try await log.step("\(upstream) stable and validated", at: 1) {
            validated.validatedVersion = manifest.version
            validated.validatedFor = blob.hex
            validated.validatedIn = validated.lastDeployment
            state.upstreamStatus = validated
            state.upstreamDeployment = validated.lastDeployment
            return "\(manifest.version) validated in \(upstream) (deployment \(validated.lastDeployment))"
        }
    }

    /// Commits the version into the upstream's manifest (git names what runs there) and runs
    /// the upstream's own pipeline, committing its record.
    func promote(to upstream: EnvironmentName) async throws -> DeploymentRecord {
        let upstreamEngine = Engine(repository: repository, configuration: engine)
        try await upstreamEngine.finishPreviousRun(upstream)
        let tip = try await repository.tip()
        guard let currentBlob = try await repository.git.blobID(at: upstream.manifestPath, in: tip),
              let current = try await repository.git.readBlob(currentBlob, maximumBytes: ManifestParser.maximumSize) else {
            throw DeploymentFailure(reason: "no \(upstream.manifestPath)")
        }
        // The promotion is Slipway's own commit, which counts as signed: it may only carry text that was accepted.
        let accepted = try await trust.acceptance(of: upstream.manifestPath, blob: currentBlob)
        if case .refused(let why) = accepted {
            throw DeploymentFailure(reason: "not promoted to \(upstream): its manifest at the tip does not count (\(why))", refused: true)
        }
        var signature = accepted
        let text = Self.settingVersion(manifest.version, in: String(decoding: current, as: UTF8.self))
        let from = (try? ManifestParser.parse(current, path: upstream.manifestPath))?.version ?? "?"
        let message = """
            promote(\(upstream)): \(manifest.service) \(from) → \(manifest.version) for \(environment)

            Slipway-Promotion: \(upstream)
            \(Trailers.version): \(manifest.version)
            Slipway-For: \(environment)

            """
        let commit: ObjectID
        if Data(text.utf8) == current, let blob = try await repository.git.blobID(at: upstream.manifestPath, in: tip) {
            // Already promoted (a run stopped after its promotion and before the upstream's record): deploy that commit again.
            commit = try await repository.git.introducingCommit(of: upstream.manifestPath, blob: blob, from: tip)
        } else {
            // Only over the text that was verified: a change pushed meanwhile is never overwritten.
            guard let made = try await repository.git.commit([FileUpdate(path: upstream.manifestPath, content: Data(text.utf8))], message: message,
                                                             author: engine.author, onto: repository.branch, requiring: [upstream.manifestPath: currentBlob]) else {
                throw DeploymentFailure(reason: "not promoted to \(upstream): \(upstream.manifestPath) changed while it was being promoted; the next pass plans again")
            }
            commit = made
            engine.state.rememberOwnCommit(commit)
            if accepted != .open { signature = .trusted("made by Slipway on this machine") }
        }
        let desired = try await repository.desired(at: commit)
        guard let upstreamManifest = desired.environments.manifests[upstream], let upstreamBlob = desired.blobs[upstream] else {
            throw DeploymentFailure(reason: "\(upstream.manifestPath) is invalid after setting its version: \(desired.environments.diagnostics.map(\.description).joined(separator: "; "))")
        }
        let upstreamStatus = try await repository.deployedStatus(of: upstream, at: try await repository.tip(), state: engine.state)
        let deployed = await upstreamStatus?.manifest.asyncMap { await repository.manifest(blob: $0, path: upstream.manifestPath) } ?? nil
        let run = PipelineRun(
            environment: upstream, manifest: upstreamManifest, blob: upstreamBlob, trigger: try await repository.git.commitInfo(commit),
            status: upstreamStatus, changes: Planner.changes(from: deployed?.fields ?? [], to: upstreamManifest.fields),
            repository: repository, engine: engine, stop: stop, signature: signature)
        let outcome = await run.run()
        _ = try await upstreamEngine.commit(outcome, of: upstream)
        return outcome.record
    }

    /// Sets the top-level `version:` of a manifest's text, keeping everything else as written.
    static func settingVersion(_ version: String, in text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            guard line.hasPrefix("version:") else { return String(line) }
            let comment = line.range(of: " #").map { String(line[$0.lowerBound...]) } ?? ""
            return "version: \"\(version)\"\(comment)"
        }.joined(separator: "\n")
    }

    /// Watches the upstream's instances for `window`: health, and an error rate judged on its own.
    func soakIn(_ upstream: EnvironmentName, for window: TimeSpan, log: RunLog) async throws -> String {
        let traffic = engine.state.traffic(upstream, logger: engine.logger)
        let names = Set(engine.target(for: manifest, in: upstream).instances().filter { $0.warmUntil == nil }.map(\.id))
        let before = try await traffic.stats()
        try await log.pause(for: window.duration)
        let sample = Sample.between(before, try await traffic.stats(), servers: names)
        let (verdict, reason) = Judge(policy: manifest.rollback).judge(canary: sample, baseline: nil, reference: nil)
        if case .fail = verdict { throw DeploymentFailure(reason: "soak in \(upstream): \(reason)") }
        return verdict == .inconclusive ? "no decision on traffic (\(reason)); health checks passed throughout" : reason
    }

    func verifyServing(_ serving: [InstanceRecord], traffic: any TrafficProvider) async throws -> String {
        let stats = try await traffic.stats()
        let up = serving.filter { instance in stats.contains { $0.name == instance.id && $0.health == .up && $0.weight > 0 } }
        guard up.count == serving.count, serving.count == manifest.run.replicas else {
            throw DeploymentFailure(reason: "\(up.count) of \(manifest.run.replicas) instances healthy and serving after the rollout")
        }
        let target = engine.target(for: manifest, in: environment)
        let leftovers = target.instances().filter { $0.version != manifest.version && $0.warmUntil == nil && target.isRunning($0) }
        guard leftovers.isEmpty else {
            throw DeploymentFailure(reason: "instances of the previous version still serving: \(leftovers.map(\.id).joined(separator: ", "))")
        }
        return ""  // every instance up and serving, none of the previous version
    }

    func verifyFront() throws -> String {
        let listen = manifest.traffic.listen, check = manifest.health.http
        let response = try HTTPProbe.get(host: listen.host, port: listen.port, path: check.path, timeout: manifest.health.timeout.duration + .seconds(1))
        guard response.status == check.expect else {
            throw DeploymentFailure(reason: "GET \(listen)\(check.path) answered \(response.status), expected \(check.expect)")
        }
        return ""  // answered as the health check expects
    }

    // MARK: Record

    /// `<time>-<commit>`; a second run for the same commit within the same second (a run
    /// re-started after an interrupted one) gets `-2`, so that no record path is written twice.
    func deploymentID(startedAt started: Date) -> String {
        let id = DeploymentRecord.id(startedAt: started, trigger: trigger.id.hex)
        return status?.lastDeployment == id ? "\(id)-2" : id
    }

    func record(_ deployment: String, started: Date, result: DeploymentResult, reason: String?, phases: [PhaseReport],
                instances: [InstanceSummary], logs: [InstanceLog]) -> DeploymentRecord {
        DeploymentRecord(
            deployment: deployment, environment: environment.rawValue, service: manifest.service, version: manifest.version,
            previousVersion: status?.version, result: result, reason: reason, strategy: manifest.strategy.name, trigger: trigger.id.hex,
            triggerAuthor: "\(trigger.authorName) <\(trigger.authorEmail)>", triggerSubject: trigger.subject,
            // A first deployment's manifest is the initial one: every field of it is not a change.
            manifest: blob.hex, started: started, finished: Date(), changes: status?.version == nil ? [] : changes, phases: phases,
            instances: instances, logs: logs)
    }

    func finish(_ deployment: String, started: Date, log: RunLog, target: any Target, failure: DeploymentFailure?) -> Outcome {
        let reason = failure.map { redactor.redact($0.reason) }
        let result: DeploymentResult = switch failure {
        case nil: trigger.isRollback ? .rolledBack : .succeeded
        case let failure? where failure.superseded: .superseded
        case _: log.rollback == nil ? .failed : .rolledBack
        }
        var record = record(
            deployment, started: started, result: result,
            reason: reason ?? (trigger.isRollback ? "rollback to \(manifest.version) asked for in \(trigger.id.short) by \(trigger.authorName): \(trigger.subject)" : nil),
            phases: log.phases, instances: [], logs: failure?.logs ?? [])
        let status = newStatus(for: &record, target: target, failed: failure != nil && result != .superseded)
        return Outcome(record: record, status: status)
    }

    /// The environment's status after `record`, which gets the instances that run. A failure
    /// is remembered (not retried until the manifest changes); an interrupted or superseded run is not.
    func newStatus(for record: inout DeploymentRecord, target: any Target, failed: Bool) -> EnvironmentStatus {
        let running = target.instances().filter { target.isRunning($0) && $0.warmUntil == nil }
        let summaries = running.map { InstanceSummary(id: $0.id, version: $0.version) }
        record.instances = summaries
        let deployment = record.deployment
        guard failed || record.result == .interrupted || record.result == .superseded else {
            return EnvironmentStatus(
                environment: environment.rawValue, service: manifest.service, version: manifest.version, commit: trigger.id.hex,
                manifest: blob.hex, since: Timestamp.iso(record.finished), instances: summaries, lastResult: record.result, lastDeployment: deployment)
        }
        let stillRunning = running.contains { $0.manifest == status?.manifest }
        var newStatus = EnvironmentStatus(
            environment: environment.rawValue, service: status?.service ?? manifest.service,
            version: stillRunning ? status?.version : nil, commit: stillRunning ? status?.commit : nil,
            manifest: stillRunning ? status?.manifest : nil, since: stillRunning ? status?.since : nil,
            instances: summaries, lastResult: record.result, lastDeployment: deployment)
        if failed {
            (newStatus.failedVersion, newStatus.failedManifest, newStatus.failedDeployment, newStatus.failedReason) =
                (manifest.version, blob.hex, deployment, record.reason)
            newStatus.failedCommit = trigger.id.hex
        }
        return newStatus
    }
}
