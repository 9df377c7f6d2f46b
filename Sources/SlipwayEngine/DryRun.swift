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
        let (production, waits) = production(plan, manifest: manifest, healthy: healthy)
        seconds += waits
        phase("production", production)
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

    /// The production phase's parts and its waits in seconds. On a fleet: replicas on every
    /// host, and rolling batches of bootLimit hosts.
    private static func production(_ plan: EnvironmentPlan, manifest: Manifest, healthy: Double) -> ([String?], Double) {
        let fleet = manifest.target.kind == .ssh ? manifest.fleet : nil
        let replicas = manifest.run.replicas * (fleet?.hosts.count ?? 1), onHosts = fleet.map { " on \($0.hosts.count) host(s)" } ?? ""
        switch manifest.strategy {
        case .rolling(let spec):
            let perBatch = fleet.map { $0.bootLimit.of($0.hosts.count) } ?? spec.batchSize
            let batches = ((fleet?.hosts.count ?? replicas) + perBatch - 1) / perBatch
            return (["rolling: \(batches) batch(es) of \(perBatch)\(fleet == nil ? "" : " host(s)"), each ≈ \(TimeSpan(milliseconds: Int(healthy * 1000))) of health checks"
                     + (spec.analysis.map { " + \($0) of analysis" } ?? "") + ", then the old instances drain"
                     + (fleet.map { $0.bootWait.milliseconds > 0 ? "; \($0.bootWait) between batches" : "" } ?? "")],
                    Double(batches) * (healthy + (spec.analysis?.seconds ?? 0) + 1) + Double(batches - 1) * (fleet?.bootWait.seconds ?? 0))
        case .canary(let spec):
            return (["canary: \(replicas) new instance(s)\(onHosts) at 0%, then " + spec.steps.map { "\($0)%" }.joined(separator: " → ")
                     + ", \(spec.stepDuration) each, analysed every \(spec.analysisInterval) (at least \(manifest.rollback.minRequests) requests per decision)"],
                    healthy + Double(spec.steps.count) * spec.stepDuration.seconds)
        case .blueGreen(let spec):
            return (["blue-green: \(replicas) new instance(s)\(onHosts) at 0%",
                     spec.preview.map { "preview on \($0)" },
                     spec.autoPromote ? nil : "waits for slipway approve \(plan.environment) (up to \(spec.approvalTimeout))",
                     "switch in one exchange; previous set warm for \(spec.keepPrevious)"], healthy)
        }
    }
}
