import SlipwayManifest
import SlipwayHost

/// Rolling update: new instances join in batches of `batchSize`; each batch must pass its
/// health checks and take traffic before as many old instances are drained and stopped.
/// With `analysis`, each batch is also judged against the old instances over that time, as a
/// canary step is. A batch that fails stops the rollout and puts the previous version back.
struct RollingStrategy: DeploymentStrategy {
    let spec: RollingSpec

    private enum BatchPart { case start, analysis }

    /// One batch: where its new instances start, and the old instances that leave after it.
    struct Batch: Equatable {
        let hosts: [String?]
        let leaving: [InstanceRecord]
    }

    /// The batches of a rollout, and the old instances no batch replaces (retired at the end).
    /// On this machine: `batchSize` instances at a time. On a fleet: `bootLimit` hosts at a
    /// time, each host's old instances leaving with its batch.
    static func plan(_ placements: [String?], batchSize: Int, bootLimit: Int?, baseline: [InstanceRecord]) -> (batches: [Batch], surplus: [InstanceRecord]) {
        var old = baseline
        var batches: [Batch] = []
        if let bootLimit {
            let hosts = placements.distinct
            for start in stride(from: 0, to: hosts.count, by: max(1, bootLimit)) {
                let group = Set(hosts[start..<min(hosts.count, start + max(1, bootLimit))])
                batches.append(Batch(hosts: placements.filter { group.contains($0) }, leaving: old.filter { group.contains($0.host) }))
                old.removeAll { group.contains($0.host) }
            }
        } else {
            for start in stride(from: 0, to: placements.count, by: max(1, batchSize)) {
                let hosts = Array(placements[start..<min(placements.count, start + max(1, batchSize))])
                batches.append(Batch(hosts: hosts, leaving: Array(old.prefix(hosts.count))))
                old.removeFirst(min(old.count, hosts.count))
            }
        }
        return (batches, old)
    }

    func run(_ context: DeploymentContext) async throws -> [InstanceRecord] {
        let fleet = context.target.hosts == [nil] ? nil : context.manifest.fleet
        let (batches, surplus) = Self.plan(context.everywhere(context.launcher), batchSize: spec.batchSize,
                                           bootLimit: fleet.map { $0.bootLimit.of(context.target.hosts.count) }, baseline: context.baseline)
        var old = context.baseline
        var fresh: [InstanceRecord] = []
        var retired: [InstanceRecord] = []
        for (index, batch) in batches.enumerated() {
            var label = "batch \(index + 1)/\(batches.count)"
            if fleet != nil { label += " (\(batch.hosts.compactMap { $0 }.distinct.joined(separator: ", ")))" }
            // Where a failed batch stopped decides what goes back: a failed start leaves its own
            // instances to remove; a failed analysis has already taken the traffic back.
            var failedIn: BatchPart?
            do {
                if index > 0, let wait = fleet?.bootWait, wait.milliseconds > 0 { try await context.log.pause(for: wait.duration) }
                try await context.log.step(label, at: Double(index) / Double(batches.count)) {
                    do {
                        fresh += try await context.startServing(on: batch.hosts, with: context.launcher)
                    } catch {
                        failedIn = .start
                        throw error
                    }
                    if spec.analysis == nil, let failure = await ResourceJudge(rules: context.policy.resources).limitFailure(of: fresh, context.target) {
                        failedIn = .start  // nothing judged the batch on traffic: its instances go, the previous version comes back
                        throw DeploymentFailure(reason: "\(label): \(failure)", trigger: .memory)
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
                    old.removeAll { batch.leaving.contains($0) }
                    for instance in batch.leaving { try await context.retire(instance) }
                    retired += batch.leaving
                    return detail
                }
            } catch {
                switch failedIn {
                case .start: await restore(context, fresh: fresh, retired: retired)
                case .analysis: await restore(context, fresh: [], retired: retired)
                case nil: break
                }
                throw error
            }
        }
        if !surplus.isEmpty {
            try await context.log.step("retire \(surplus.count) surplus instance(s)", at: 1) {
                for instance in surplus { try await context.retire(instance) }
                return "drained and stopped: \(surplus.map(\.id).joined(separator: ", "))"
            }
        }
        return fresh
    }

    /// After a failed batch: start the previous version again where instances were already
    /// retired (host by host: one that stopped answering does not keep the others back), then
    /// take the new ones out. Without the previous version's manifest the new instances keep
    /// serving, so the environment is never left without capacity it had.
    private func restore(_ context: DeploymentContext, fresh: [InstanceRecord], retired: [InstanceRecord]) async {
        guard !fresh.isEmpty || !retired.isEmpty else { return }
        try? await context.log.step("restore previous version", at: 1) {
            var unreached = "", count = 0
            if !retired.isEmpty {
                guard let previous = context.previous else {
                    return "kept \(fresh.count) new instance(s) serving: the previous version's manifest is unavailable"
                }
                let restarted = await context.startEach(on: retired.map(\.host), with: previous)
                count = restarted.started.count
                if !restarted.failures.isEmpty { unreached = "; not restarted on \(restarted.failures.joined(separator: "; "))" }
            }
            let failures = await context.retireEach(fresh)
            return "restarted \(count) × \(context.previous?.manifest.version ?? "previous"), removed \(fresh.count - failures.count) new instance(s)"
                + unreached + (failures.isEmpty ? "" : "; not removed: \(failures.joined(separator: "; "))")
        }
    }
}
