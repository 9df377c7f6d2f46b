import SlipwayManifest
import SlipwayHost

/// Rolling update: new instances join in batches of `batchSize`; each batch must pass its
/// health checks and take traffic before as many old instances are drained and stopped.
/// With `analysis`, each batch is also judged against the old instances over that time, as a
/// canary step is. A batch that fails stops the rollout and puts the previous version back.
struct RollingStrategy: DeploymentStrategy {
    let spec: RollingSpec

    private enum BatchPart { case start, analysis }

    func run(_ context: DeploymentContext) async throws -> [InstanceRecord] {
        let replicas = context.manifest.run.replicas
        let starts = Array(stride(from: 0, to: replicas, by: spec.batchSize))
        var old = context.baseline
        var fresh: [InstanceRecord] = []
        var retired: [InstanceRecord] = []
        for (index, start) in starts.enumerated() {
            let size = min(spec.batchSize, replicas - start)
            let label = "batch \(index + 1)/\(starts.count)"
            // Where a failed batch stopped decides what goes back: a failed start leaves its own
            // instances to remove; a failed analysis has already taken the traffic back.
            var failedIn: BatchPart?
            do {
                try await context.log.step(label, at: Double(index) / Double(starts.count)) {
                    do {
                        fresh += try await context.startServing(size, with: context.launcher)
                    } catch {
                        failedIn = .start
                        throw error
                    }
                    var detail = ""
                    if let analysis = spec.analysis {
                        do {
                            detail = try await StepAnalyzer(context: context, duration: analysis, interval: spec.analysisInterval, fresh: fresh, baseline: old)
                                .hold(label, percent: 100 * fresh.count / max(1, fresh.count + old.count))
                        } catch {
                            failedIn = .analysis
                            throw error
                        }
                    }
                    let leaving = Array(old.prefix(size))
                    old.removeFirst(leaving.count)
                    for instance in leaving { try await context.retire(instance) }
                    retired += leaving
                    return detail
                }
            } catch {
                switch failedIn {
                case .start: await restore(context, fresh: fresh, retired: retired.count)
                case .analysis: await restore(context, fresh: [], retired: retired.count)
                case nil: break
                }
                throw error
            }
        }
        if !old.isEmpty {
            try await context.log.step("retire \(old.count) surplus instance(s)", at: 1) {
                for instance in old { try await context.retire(instance) }
                return "drained and stopped: \(old.map(\.id).joined(separator: ", "))"
            }
        }
        return fresh
    }

    /// After a failed batch: start the previous version again for the instances already
    /// retired, then take the new ones out. When that is impossible the new instances keep
    /// serving, so the environment is never left without capacity it had.
    private func restore(_ context: DeploymentContext, fresh: [InstanceRecord], retired: Int) async {
        guard !fresh.isEmpty || retired > 0 else { return }
        try? await context.log.step("restore previous version", at: 1) {
            if retired > 0 {
                guard let previous = context.previous else {
                    return "kept \(fresh.count) new instance(s) serving: the previous version's manifest is unavailable"
                }
                _ = try await context.startServing(retired, with: previous)
            }
            for instance in fresh { try await context.retire(instance) }
            return "restarted \(retired) × \(context.previous?.manifest.version ?? "previous"), removed \(fresh.count) new instance(s)"
        }
    }
}
