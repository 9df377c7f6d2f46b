import Foundation
import SlipwayCore
import SlipwayHost
import SlipwayManifest
import SlipwayRecords

/// What the instances of a run used at one moment, by instance id.
struct ResourceReading {
    let at: ContinuousClock.Instant
    let date: Date
    let samples: [String: ResourceSample]

    static func now(of instances: [InstanceRecord], _ target: any Target) async -> ResourceReading {
        let samples = instances.isEmpty ? [:] : await target.usage(of: instances)
        return ResourceReading(at: .now, date: Date(), samples: samples)
    }
}

extension ResourceFigures {
    /// What `ids` used between two readings, per instance; `requests`: what they served
    /// meanwhile. CPU per request is given from `minRequests` on. Nil when no instance of the
    /// set was read both times.
    static func between(_ before: ResourceReading, _ after: ResourceReading, ids: [String], requests: Int, minRequests: Int) -> ResourceFigures? {
        let span = (after.at - before.at).components
        let seconds = Double(span.seconds) + Double(span.attoseconds) / 1e18
        let pairs = ids.compactMap { id in before.samples[id].flatMap { old in after.samples[id].map { (old, $0) } } }
        guard !pairs.isEmpty, seconds > 0 else { return nil }
        let cpu = pairs.reduce(0.0) { $0 + max(0, $1.1.cpuSeconds - $1.0.cpuSeconds) }
        return figures(pairs.map(\.1), cpu: cpu, seconds: seconds, requests: requests, minRequests: minRequests)
    }

    /// What `instances` used since they started (CPU over their lifetime): the previous
    /// version's figures before a run, the new version's after one without an observation window.
    static func lifetime(_ instances: [InstanceRecord], _ reading: ResourceReading, requests: Int, minRequests: Int) -> ResourceFigures? {
        let read = instances.compactMap { instance in reading.samples[instance.id].map { (instance, $0) } }
        guard !read.isEmpty else { return nil }
        let seconds = read.reduce(0.0) { $0 + max(0.001, reading.date.timeIntervalSince($1.0.startedAt)) } / Double(read.count)
        return figures(read.map(\.1), cpu: read.reduce(0.0) { $0 + $1.1.cpuSeconds }, seconds: seconds, requests: requests, minRequests: minRequests)
    }

    /// These figures with `other`'s CPU.
    func cpu(of other: ResourceFigures) -> ResourceFigures {
        ResourceFigures(instances: instances, cpuPercent: other.cpuPercent, cpuPerRequest: other.cpuPerRequest, residentBytes: residentBytes,
                        maxResidentBytes: maxResidentBytes, openFiles: openFiles, seconds: other.seconds)
    }

    private static func figures(_ samples: [ResourceSample], cpu: Double, seconds: Double, requests: Int, minRequests: Int) -> ResourceFigures {
        let count = samples.count
        let percent: Double = cpu / seconds / Double(count) * 100
        let perRequest: Double? = requests >= minRequests && requests > 0 ? cpu * 1000 / Double(requests) : nil
        let resident: Int = samples.reduce(0) { $0 + $1.residentBytes }
        let files: Int = samples.reduce(0) { $0 + $1.openFiles }
        return ResourceFigures(instances: count, cpuPercent: percent, cpuPerRequest: perRequest, residentBytes: resident / count,
                               maxResidentBytes: samples.map(\.residentBytes).max() ?? 0, openFiles: files / count, seconds: seconds)
    }
}

extension Verdict {
    /// What a record's resources row says: `recorded` without rules, `pass`, or the reason.
    func resourceText(_ reason: String, rules: ResourceRules) -> String {
        switch self {
        case .pass: rules.isEmpty ? "recorded" : "pass"
        case .inconclusive: "not judged: \(reason)"
        case .fail: reason
        }
    }
}

/// The `rollback` resource rules on one window: the new version's figures against the
/// previous version's (README, "Resource checks"). Differences under a floor are noise and
/// never fail: 5% of a core or 0.2 ms of CPU per request, 8 MiB of memory per instance.
struct ResourceJudge {
    let rules: ResourceRules

    static let cpuFloorPercent = 5.0
    static let cpuFloorPerRequest = 0.2
    static let memoryFloor = 8 << 20

    /// - Parameter warmingUp: the window began before the newest new instance was `warmup` old:
    ///   the increases are not judged yet (inconclusive); `memoryLimit` is.
    func judge(new: ResourceFigures?, previous: ResourceFigures?, warmingUp: Bool) -> (verdict: Verdict, reason: String) {
        guard !rules.isEmpty else { return (.pass, (new?.text ?? "no reading of the new instances") + "; no resource rule set") }
        guard let new else { return (.inconclusive, "resources: no reading of the new instances") }
        if let limit = rules.memoryLimit, new.maxResidentBytes > limit {
            return (.fail(.memory), "resident memory \(ByteCount.text(new.maxResidentBytes)) on an instance, over the memoryLimit of \(ByteCount.text(limit))")
        }
        let compares = rules.cpuIncrease != nil || rules.memoryIncrease != nil
        if compares && warmingUp { return (.inconclusive, "resources: new instances warming up (rollback.warmup \(rules.warmup))") }
        guard compares, let previous else {
            return (.pass, new.text + (compares ? "; no previous version to compare with" : ""))
        }
        if let increase = rules.memoryIncrease {
            let limit = max(Double(previous.residentBytes) * (1 + increase), Double(previous.residentBytes + Self.memoryFloor))
            if Double(new.residentBytes) > limit {
                return (.fail(.memory), "resident memory \(ByteCount.text(new.residentBytes)) per instance against \(ByteCount.text(previous.residentBytes)) for the previous version: over +\(Self.percent(increase)) (and \(ByteCount.text(Self.memoryFloor)))")
            }
        }
        if let increase = rules.cpuIncrease {
            if let current = new.cpuPerRequest, let before = previous.cpuPerRequest {
                if current > max(before * (1 + increase), before + Self.cpuFloorPerRequest) {
                    return (.fail(.cpu), String(format: "CPU %.2f ms per request against %.2f ms for the previous version: over +%@", current, before, Self.percent(increase)))
                }
            } else if new.cpuPercent > max(previous.cpuPercent * (1 + increase), previous.cpuPercent + Self.cpuFloorPercent) {
                return (.fail(.cpu), String(format: "CPU %.1f%% of a core per instance against %.1f%% for the previous version: over +%@", new.cpuPercent, previous.cpuPercent, Self.percent(increase)))
            }
        }
        return (.pass, "\(new.text) against \(previous.text): within bounds")
    }

    /// The limit check a rolling update without analysis makes after each batch: no window to
    /// compare over, but no instance may pass `memoryLimit`.
    func limitFailure(of instances: [InstanceRecord], _ target: any Target) async -> String? {
        guard let limit = rules.memoryLimit else { return nil }
        let samples = await target.usage(of: instances)
        guard let (id, sample) = samples.max(by: { $0.value.residentBytes < $1.value.residentBytes }), sample.residentBytes > limit else { return nil }
        return "resident memory \(ByteCount.text(sample.residentBytes)) on \(id), over the memoryLimit of \(ByteCount.text(limit))"
    }

    static func percent(_ fraction: Double) -> String { "\(Int((fraction * 100).rounded()))%" }
}
