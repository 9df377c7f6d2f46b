import Foundation
import SlipwayManifest
import SlipwayRecords
import SlipwayGit
import SlipwayHost
import SlipwayTraffic
import SlipwayCore

/// Blue-green: the complete new set starts beside the old one at weight 0 and must pass its
/// health checks; then all traffic moves in one runtime-API exchange. The old set is drained
/// but kept running at weight 0 for `keepPrevious`, so that going back inside that window (a
/// `git revert`) is the same one exchange with nothing to start.
struct BlueGreenStrategy: DeploymentStrategy {
    let spec: BlueGreenSpec

    func run(_ context: DeploymentContext) async throws -> [InstanceRecord] {
        let version = context.manifest.version
        let placements = context.everywhere(context.launcher)
        let replicas = placements.count
        var fresh = await context.target.running(context.warm.filter { $0.manifest == context.launcher.manifestBlob })
        if !fresh.isEmpty && context.missing(context.launcher, besides: fresh).isEmpty {
            try await context.log.step("reuse the warm set of \(version)", at: 0) {
                try await context.target.setWarm(Set(fresh.map(\.id)), until: nil)
                return "\(replicas) instance(s) still running at 0% since the last switch: \(fresh.map(\.id).joined(separator: ", "))"
            }
        } else {
            try await context.log.step("start \(replicas) × \(version) at 0% traffic\(context.onHosts)", at: 0) {
                fresh = try await context.startServing(on: placements, with: context.launcher, weight: 0)
                return "healthy: \(fresh.map(\.id).joined(separator: ", "))"
            }
        }
        do {
            if let preview = spec.preview {
                try await context.log.step("preview on \(preview)", at: 0.3) { try await showPreview(fresh, at: preview, context) }
            }
            if !spec.autoPromote {
                try await context.log.step("approval", at: 0.4) { try await waitForApproval(context) }
            }
        } catch {
            for instance in fresh { await context.discard(instance) }
            throw error
        }
        let previous = context.baseline
        try await context.log.step("switch all traffic to \(version)", at: 0.5) {
            var weights = Dictionary(uniqueKeysWithValues: fresh.map { ($0.id, context.weight) })
            for instance in previous { weights[instance.id] = 0 }
            let started = ContinuousClock.now
            try await context.traffic.setWeights(weights)
            let took = started.elapsedMilliseconds
            if spec.preview != nil { try await context.traffic.preview([]) }
            return "one runtime-API exchange, \(took) ms: \(fresh.count) new at 100%, \(previous.count) previous at 0%"
        }
        // Sets older than the one just replaced are not worth keeping.
        let stale = context.warm.filter { warm in !fresh.contains { $0.id == warm.id } }
        if !stale.isEmpty {
            try await context.log.step("stop \(stale.count) older warm instance(s)", at: 0.75) {
                for instance in stale { try await context.retire(instance) }
                return stale.map(\.id).joined(separator: ", ")
            }
        }
        guard !previous.isEmpty else { return fresh }
        try await context.log.step("keep \(previous.count) × \(previous[0].version) warm for \(spec.keepPrevious)", at: 1) {
            if spec.keepPrevious.milliseconds == 0 {
                for instance in previous { try await context.retire(instance) }
                return "keepPrevious is 0: drained and stopped"
            }
            let until = Date().addingTimeInterval(spec.keepPrevious.seconds)
            try await context.target.setWarm(Set(previous.map(\.id)), until: until)
            return "at 0% until \(Timestamp.iso(until)); a switch back before then starts nothing"
        }
        return fresh
    }

    /// Puts the new set behind the preview address and waits until it answers there.
    private func showPreview(_ fresh: [InstanceRecord], at address: ListenAddress, _ context: DeploymentContext) async throws -> String {
        try await context.traffic.preview(fresh.map { $0.backend })
        let check = context.manifest.health.http
        let deadline = ContinuousClock.now + context.manifest.health.startTimeout.duration
        var last = "no answer"
        while ContinuousClock.now < deadline {
            if let response = try? await HTTPProbe.get(host: address.host, port: address.port, path: check.path) {
                if response.status == check.expect { return "GET \(address)\(check.path) → \(response.status) from the new set" }
                last = "HTTP \(response.status)"
            }
            try await context.log.pause(for: .milliseconds(100))
        }
        throw DeploymentFailure(reason: "the preview on \(address) did not answer GET \(check.path) with \(check.expect) (last: \(last))")
    }

    /// Waits for `slipway approve ENV` to commit an approval of this manifest.
    private func waitForApproval(_ context: DeploymentContext) async throws -> String {
        let trigger = context.launcher.commit
        do {
            let approval = try await context.repository.awaitApproval(
                of: context.environment, manifest: context.launcher.manifestBlob, since: trigger, timeout: spec.approvalTimeout,
                trust: TrustCheck(repository: context.repository, state: context.launcher.state, resolver: context.launcher.resolver), log: context.log)
            return "approved by \(approval.approver) (commit \(approval.commit.short))"
        } catch let failure as DeploymentFailure {
            throw DeploymentFailure(reason: failure.reason.replacingOccurrences(of: ": run slipway", with: ": nothing was switched; run slipway"))
        }
    }
}

extension BlueGreenSpec {
    /// How going back to a version that ran here deploys, whatever `strategy` it was released
    /// with: the warm set if there is one, otherwise every instance at once, then one switch
    /// with no preview or approval; the set it replaces is kept warm only if `strategy` kept one.
    static func immediate(after strategy: Strategy) -> BlueGreenSpec {
        let keep: TimeSpan = if case .blueGreen(let spec) = strategy { spec.keepPrevious } else { .seconds(0) }
        return BlueGreenSpec(preview: nil, keepPrevious: keep, autoPromote: true, approvalTimeout: .seconds(0))
    }
}
