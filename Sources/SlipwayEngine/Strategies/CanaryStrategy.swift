import Foundation
import SlipwayManifest
import SlipwayRecords
import SlipwayHost
import SlipwayTraffic
import SlipwayCore

/// Canary: the complete new set starts beside the baseline at weight 0; then it takes each of
/// `steps` percent of the traffic for `stepDuration`, and every `analysisInterval` its errors,
/// response time and health are compared with the baseline's over the same window. Any failing
/// window takes all traffic back at once. A step passes only with a conclusive window: with too
/// little traffic it is extended, up to three times its duration, and then counts as a failure
/// — a canary is never promoted on no data.
struct CanaryStrategy: DeploymentStrategy {
    let spec: CanarySpec

    func run(_ context: DeploymentContext) async throws -> [InstanceRecord] {
        let baseline = context.baseline
        let version = context.manifest.version
        var fresh: [InstanceRecord] = []
        let placements = context.everywhere(context.launcher)
        try await context.log.step("start \(placements.count) × \(version) at 0% traffic\(context.onHosts)") {
            fresh = try await context.startServing(on: placements, with: context.launcher, weight: 0)
            return "healthy: \(fresh.map(\.id).joined(separator: ", "))"
        }
        // Without a baseline there is nothing to split with: one step at 100%, judged on its own numbers.
        let steps = baseline.isEmpty ? [100] : spec.steps
        let analysis = StepAnalyzer(context: context, duration: spec.stepDuration, interval: spec.analysisInterval, fresh: fresh, baseline: baseline)
        for (index, percent) in steps.enumerated() {
            let label = "step \(index + 1)/\(steps.count)"
            try await context.log.step("\(label): \(percent)% to \(version)", at: Double(index) / Double(steps.count)) {
                try await context.traffic.setWeights(Self.weights(percent: percent, canary: fresh.map(\.id), baseline: baseline.map(\.id)))
                return try await analysis.hold(label, percent: percent)
            }
        }
        if !baseline.isEmpty {
            try await context.log.step("retire \(baseline.count) × \(baseline[0].version)", at: 1) {
                for instance in baseline { try await context.retire(instance) }
                return "drained and stopped: \(baseline.map(\.id).joined(separator: ", "))"
            }
        }
        return fresh
    }

    /// HAProxy weights (0…256 per server) that give the canary set `percent` of the requests.
    static func weights(percent: Int, canary: [String], baseline: [String]) -> [String: Int] {
        var result: [String: Int] = [:]
        guard !baseline.isEmpty, percent < 100 else {
            canary.forEach { result[$0] = 100 }
            baseline.forEach { result[$0] = 0 }
            return result
        }
        guard percent > 0, !canary.isEmpty else {
            canary.forEach { result[$0] = 0 }
            baseline.forEach { result[$0] = 100 }
            return result
        }
        // Per-server weights in the ratio percent/C : (100 - percent)/B, scaled into 1…256.
        let canaryShare = Double(percent) / Double(canary.count)
        let baselineShare = Double(100 - percent) / Double(baseline.count)
        let scale = 256 / max(canaryShare, baselineShare)
        canary.forEach { result[$0] = max(1, Int((canaryShare * scale).rounded())) }
        baseline.forEach { result[$0] = max(1, Int((baselineShare * scale).rounded())) }
        return result
    }
}
