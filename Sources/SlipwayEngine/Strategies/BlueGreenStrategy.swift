import Foundation
import SlipwayManifest
import SlipwayRecords
import SlipwayRuntime

/// Blue-green: the complete new set starts beside the old one at weight 0 and must pass its
/// health checks; then all traffic moves in one runtime-API exchange. The old set is drained
/// but kept running at weight 0 for `keepPrevious`, so that going back inside that window (a
/// `git revert`) is the same one exchange with nothing to start.
struct BlueGreenStrategy: DeploymentStrategy {
    let spec: BlueGreenSpec

    func run(_ context: DeploymentContext) async throws -> [InstanceRecord] {
        let version = context.manifest.version
        let replicas = context.manifest.run.replicas
        var fresh = context.warm.filter { $0.manifest == context.launcher.manifestBlob && $0.isRunning }
        if fresh.count == replicas {
            try await context.log.step("reuse the warm set of \(version)", at: 0) {
                try context.registry.setWarm(Set(fresh.map(\.id)), until: nil)
                return "\(replicas) instance(s) still running at 0% since the last switch: \(fresh.map(\.id).joined(separator: ", "))"
            }
        } else {
            try await context.log.step("start \(replicas) × \(version) at 0% traffic", at: 0) {
                fresh = try await context.startServing(replicas, with: context.launcher, weight: 0)
                return "healthy: \(fresh.map(\.id).joined(separator: ", "))"
            }
        }
        let previous = context.baseline
        try await context.log.step("switch all traffic to \(version)", at: 0.5) {
            var weights = Dictionary(uniqueKeysWithValues: fresh.map { ($0.id, context.weight) })
            for instance in previous { weights[instance.id] = 0 }
            let started = ContinuousClock.now
            try await context.traffic.setWeights(weights)
            return "one runtime-API exchange, \(started.elapsedMilliseconds) ms: \(fresh.count) new at 100%, \(previous.count) previous at 0%"
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
            try context.registry.setWarm(Set(previous.map(\.id)), until: until)
            return "at 0% until \(Timestamp.iso(until)); a switch back before then starts nothing"
        }
        return fresh
    }
}
