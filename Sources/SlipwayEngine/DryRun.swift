public import SlipwayManifest

/// What `apply --dry-run` prints: the pipeline a manifest would run, phase by phase, with the
/// waits in it and an estimate of the duration. Pure.
public enum DryRun {
    public static func describe(_ plan: EnvironmentPlan, manifest: Manifest) -> [String] {
        let health = manifest.health
        let healthy = Double(health.healthyThreshold) * health.interval.seconds
        var seconds = 0.0
        var lines = ["\(plan.environment): \(plan.action.rawValue) \(manifest.service) \(plan.deployedVersion ?? "nothing") → \(manifest.version) (\(manifest.strategy.name))"]
        func phase(_ name: String, _ parts: [String?]) {
            let text = parts.compactMap { $0 }.joined(separator: "; ")
            lines.append("  \(name.padding(toLength: 12, withPad: " ", startingAt: 0)) \(text.isEmpty ? "skipped: nothing to do" : text)")
        }
        let gates = manifest.gates
        seconds += Double(gates.preflight.count)
        phase("pre-flight", [
            "manifest, target, secrets, program, HAProxy, target health, rollback path",
            gates.preflight.isEmpty ? nil : "gates: " + gates.preflight.map { $0.note == nil ? $0.name : "\($0.name) (note \($0.note?.ref ?? ""))" }.joined(separator: ", "),
            gates.checklist.isEmpty ? nil : "checklist of \(gates.checklist.count): waits for slipway approve \(plan.environment) (up to \(gates.approvalTimeout))",
            manifest.hooks.preDeploy.map { "hook preDeploy \($0.first ?? "")" },
        ])
        if let upstream = manifest.upstream {
            seconds += gates.monitor?.seconds ?? 0
            phase("staging", [
                "\(upstream) must run \(manifest.version): promoted and deployed there first when it does not",
                gates.smoke.isEmpty ? nil : "\(gates.smoke.count) smoke check(s)",
                gates.integration.isEmpty ? nil : "integration: " + gates.integration.map(\.name).joined(separator: ", "),
                gates.monitor.map { "soak \($0)" },
            ])
        } else {
            phase("staging", [])
        }
        switch manifest.strategy {
        case .rolling(let spec):
            let batches = (manifest.run.replicas + spec.batchSize - 1) / spec.batchSize
            seconds += Double(batches) * (healthy + (spec.analysis?.seconds ?? 0) + 1)
            phase("production", ["rolling: \(batches) batch(es) of \(spec.batchSize), each ≈ \(TimeSpan(milliseconds: Int(healthy * 1000))) of health checks"
                                 + (spec.analysis.map { " + \($0) of analysis" } ?? "") + ", then the old instances drain"])
        case .canary(let spec):
            seconds += healthy + Double(spec.steps.count) * spec.stepDuration.seconds
            phase("production", ["canary: \(manifest.run.replicas) new instance(s) at 0%, then " + spec.steps.map { "\($0)%" }.joined(separator: " → ")
                                 + ", \(spec.stepDuration) each, analysed every \(spec.analysisInterval) (at least \(manifest.rollback.minRequests) requests per decision)"])
        case .blueGreen(let spec):
            seconds += healthy
            phase("production", ["blue-green: \(manifest.run.replicas) new instance(s) at 0%",
                                 spec.preview.map { "preview on \($0)" },
                                 spec.autoPromote ? nil : "waits for slipway approve \(plan.environment) (up to \(spec.approvalTimeout))",
                                 "switch in one exchange; previous set warm for \(spec.keepPrevious)"])
        }
        seconds += gates.observe?.seconds ?? 0
        phase("post-deploy", [
            "instances healthy, front answers",
            gates.smoke.isEmpty ? nil : "\(gates.smoke.count) smoke check(s) on the front",
            gates.endpoints.isEmpty ? nil : "\(gates.endpoints.count) endpoint(s)",
            gates.monitoring == nil ? nil : "monitoring active",
            gates.observe.map { "observe \($0) against the pre-deploy baseline" },
            manifest.hooks.postDeploy.map { "hook postDeploy \($0.first ?? "")" },
        ])
        lines.append("  estimate     ≈ \(TimeSpan(milliseconds: Int(seconds * 1000))) (waits included; approvals and gate commands not counted)")
        return lines
    }
}
