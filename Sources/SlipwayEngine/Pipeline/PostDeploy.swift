import SlipwayCore
import Foundation
import Logging
import SlipwayGit
import SlipwayManifest
import SlipwayRecords
import SlipwayHost
import SlipwayTraffic

/// Post-deploy (README, "How a deployment runs"): the new set serves, the front answers, and
/// the checks the manifest asks for pass; a failure here rolls back.
struct PostDeploy {
    let run: PipelineRun
    let log: RunLog
    let deployment: DeploymentID

    func callAsFunction(_ serving: [InstanceRecord], against baselineSample: Sample?, _ context: DeploymentContext) async throws {
        let manifest = run.manifest
        log.begin(.postDeploy)
        try await log.step("instances healthy") { try await run.verifyServing(serving, traffic: context.traffic, target: context.target) }
        try await log.step("front answers") { try await run.verifyFront() }
        if !manifest.gates.smoke.isEmpty {
            try await log.step("smoke checks on the front") {
                let listen = manifest.traffic.listen
                if let failure = await run.smokeChecks.failure(host: listen.host, ports: [("the front", listen.port)]) {
                    throw DeploymentFailure(reason: failure, trigger: .smoke)
                }
                return "\(manifest.gates.smoke.count) passed on \(listen)"
            }
        }
        if !manifest.gates.endpoints.isEmpty {
            try await log.step("endpoints answer") { try await run.checkEndpoints() }
        }
        if let monitoring = manifest.gates.monitoring {
            try await log.step("monitoring active") { try await run.checkMonitoring(monitoring, serving) }
        }
        if manifest.upstream == nil {
            for gate in manifest.gates.integration {
                try await log.step("integration \(gate.name)") {
                    let result = try await run.gateRunner(deployment: deployment).run(gate.name, gate.command, timeout: gate.timeout)
                    guard result.passed else {
                        throw DeploymentFailure(reason: result.failureReason("integration \(gate.name)", timeout: gate.timeout), trigger: .smoke)
                    }
                    return result.detail
                }
            }
        }
        var observed: ObservedUsage?
        if let window = manifest.gates.observe {
            try await log.step("observe for \(window)") {
                let (detail, usage) = try await run.observe(serving, for: window, against: baselineSample, context)
                observed = usage
                return detail
            }
        }
        // The analysis windows compared both versions side by side; their last baseline reading is
        // the previous version's figures, else what it used over its life before the run.
        let previous = log.analysis.last { $0.resources?.previous != nil }?.resources?.previous ?? context.baselineResources
        try await log.step("resources") { try await run.checkResources(serving, observed: observed, previous: previous, context) }
        if let hook = manifest.hooks.postDeploy {
            try await log.step("hook postDeploy") { try await run.runHook("postDeploy", hook, deployment: deployment, trigger: .smoke) }
        }
        log.end()
    }
}

extension PipelineRun {
    func verifyServing(_ serving: [InstanceRecord], traffic: any TrafficProvider, target: any Target) async throws -> String {
        let stats = try await traffic.stats()
        let up = serving.filter { instance in stats.contains { $0.name == instance.id && $0.health == .up && $0.weight > 0 } }
        let replicas = manifest.run.replicas * target.hosts.count
        guard up.count == serving.count, serving.count == replicas else {
            throw DeploymentFailure(reason: "\(up.count) of \(replicas) instances healthy and serving after the rollout")
        }
        let leftovers = await target.serving().filter { $0.version != manifest.version }
        guard leftovers.isEmpty else {
            throw DeploymentFailure(reason: "instances of the previous version still serving: \(leftovers.map(\.id).joined(separator: ", "))")
        }
        return ""  // every instance up and serving, none of the previous version
    }

    func verifyFront() async throws -> String {
        let listen = manifest.traffic.listen, check = manifest.health.http
        let response = try await HTTPProbe.get(host: listen.host, port: listen.port, path: check.path, timeout: manifest.health.timeout.duration + .seconds(1))
        guard response.status == check.expect else {
            throw DeploymentFailure(reason: "GET \(listen)\(check.path) answered \(response.status), expected \(check.expect)")
        }
        return ""  // answered as the health check expects
    }

    /// Post-deploy: every listed path answers through the front (any status below 500).
    func checkEndpoints() async throws -> String {
        let listen = manifest.traffic.listen
        for path in manifest.gates.endpoints {
            let response = try? await HTTPProbe.get(host: listen.host, port: listen.port, path: path, timeout: manifest.health.timeout.duration + .seconds(1))
            guard let response, response.status < 500 else {
                throw DeploymentFailure(reason: "endpoint \(path) \(response.map { "answered \($0.status)" } ?? "did not answer") on \(listen)", trigger: .smoke)
            }
        }
        return "\(manifest.gates.endpoints.count) endpoint(s) answer on \(listen)"
    }

    /// Post-deploy: monitoring is active (every instance's metrics path, a monitoring server's URL).
    func checkMonitoring(_ monitoring: Monitoring, _ serving: [InstanceRecord]) async throws -> String {
        var checked: [String] = []
        if let path = monitoring.path {
            let checks = SmokeChecks(checks: [SmokeCheck(name: "monitoring", http: HTTPCheck(path: path, expect: 200))], timeout: .seconds(2))
            if let failure = await checks.failure(of: serving) { throw DeploymentFailure(reason: failure, trigger: .health) }
            checked.append("\(path) on \(serving.count) instance(s)")
        }
        if let url = monitoring.url {
            let response = try? await HTTPProbe.get(url: url, timeout: .seconds(2))
            guard response?.status == 200 else {
                throw DeploymentFailure(reason: "monitoring \(url) \(response.map { "answered \($0.status)" } ?? "did not answer")", trigger: .health)
            }
            checked.append(url)
        }
        return checked.joined(separator: ", ")
    }

    /// Watches the new set for `window` and judges it against the pre-deploy baseline; returns
    /// what the set used meanwhile too, for the `resources` step.
    func observe(_ serving: [InstanceRecord], for window: TimeSpan, against baseline: Sample?,
                 _ context: DeploymentContext) async throws -> (String, ObservedUsage) {
        let names = Set(serving.map(\.id))
        let before = try await context.traffic.stats()
        var usageBefore = await ResourceReading.now(of: serving, context.target), statsAtUsage = before
        // Resources are read from the end of warm-up when it ends inside the window (a blue-green
        // switch comes seconds after the new set started): the window before it decides nothing.
        let untilWarm = ResourceJudge(rules: manifest.rollback.resources).warmUntil(serving).timeIntervalSinceNow
        if untilWarm > 0 && untilWarm < window.seconds {
            let warming = Duration.milliseconds(Int(untilWarm * 1000))
            try await context.log.pause(for: warming)
            statsAtUsage = try await context.traffic.stats()
            usageBefore = await ResourceReading.now(of: serving, context.target)
            try await context.log.pause(for: window.duration - warming)
        } else {
            try await context.log.pause(for: window.duration)
        }
        let after = try await context.traffic.stats()
        let sample = Sample.between(before, after, servers: names)
        let usage = ObservedUsage(figures: ResourceFigures.between(usageBefore, await ResourceReading.now(of: serving, context.target), ids: serving.map(\.id),
                                                                   requests: { Sample.between(statsAtUsage, after, servers: $0).requests },
                                                                   minRequests: manifest.rollback.minRequests),
                                  since: usageBefore.date)
        let (verdict, reason) = Judge(policy: manifest.rollback).judge(canary: sample, baseline: nil, reference: baseline)
        if case .fail(let trigger) = verdict {
            throw DeploymentFailure(reason: "post-deploy observation: \(reason)", trigger: trigger)
        }
        var checks = context.metricChecks
        checks.afterRollout = true
        let metrics = await checks.judge()
        let readings = metrics.readings.map { "\($0.name) \(QueryReading.text($0.value))" + ($0.previous.map { " (previous \(QueryReading.text($0)))" } ?? "") }
        switch metrics.verdict {
        case .fail(let trigger):
            throw DeploymentFailure(reason: "post-deploy observation: \(metrics.reason)", trigger: trigger)
        case .inconclusive:
            // The last gate: a query with no data here is a version nobody can vouch for.
            throw DeploymentFailure(reason: "post-deploy observation: \(metrics.reason); not passed on no data", trigger: .inconclusive)
        case .pass:
            let text = verdict == .inconclusive ? "inconclusive: \(reason)" : reason
            return (checks.isEmpty ? text : "\(text); \(readings.joined(separator: ", "))", usage)
        }
    }

    /// Post-deploy: the new version's CPU, memory and open files beside the previous version's,
    /// judged by the `rollback` resource rules. CPU is judged over an observation window only:
    /// without one the figures are since each instance started, start-up work included.
    func checkResources(_ serving: [InstanceRecord], observed: ObservedUsage?, previous: ResourceFigures?, _ context: DeploymentContext) async throws -> String {
        var rules = manifest.rollback.resources
        var new = observed?.figures
        if observed == nil {
            let stats = (try? await context.traffic.stats()) ?? []  // no answer: no CPU per request, nothing else lost
            new = ResourceFigures.lifetime(serving, await ResourceReading.now(of: serving, context.target),
                                           requests: { Sample.between([], stats, servers: $0).requests }, minRequests: manifest.rollback.minRequests)
            rules.cpuIncrease = nil
        }
        let judge = ResourceJudge(rules: rules)
        // After the rollout a previous version that cannot be read decides nothing either way:
        // its figures come from before (the analysis windows, or its life before the run).
        let (verdict, reason) = judge.judge(new: new, previous: previous, expectsPrevious: false,
                                            warmingUp: judge.warmingUp(serving, at: observed?.since ?? Date()))
        context.log.resources = ResourceComparison(new: new, previous: previous, verdict: verdict.recordText(reason, rules: rules))
        switch verdict {
        case .fail(let trigger):
            throw DeploymentFailure(reason: "resources: \(reason)", trigger: trigger)
        case .inconclusive where new == nil:
            throw DeploymentFailure(reason: "\(reason); not passed on no data", trigger: .inconclusive)
        case .inconclusive:
            return "not judged: \(reason)"
        case .pass:
            return rules.isEmpty ? "" : reason  // without a rule the figures are the record's `resources`, said once
        }
    }
}

/// What the new set used during post-deploy's observation window, and since when.
struct ObservedUsage {
    let figures: ResourceFigures?
    let since: Date
}
