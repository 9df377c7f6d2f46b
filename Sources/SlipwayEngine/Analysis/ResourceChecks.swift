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
    /// What `ids` used between two readings, per instance; `requests`: what the instances read
    /// both times served meanwhile (one not read counts for neither CPU nor requests). CPU per
    /// request is given from `minRequests` on. Nil when no instance of the set was read both times.
    static func between(_ before: ResourceReading, _ after: ResourceReading, ids: [String], requests: (Set<String>) -> Int,
                        minRequests: Int) -> ResourceFigures? {
        let seconds = (after.at - before.at).inSeconds
        let read = ids.filter { before.samples[$0] != nil && after.samples[$0] != nil }
        guard !read.isEmpty, seconds > 0 else { return nil }
        let cpu = read.reduce(0.0) { total, id in total + max(0, (after.samples[id]?.cpuSeconds ?? 0) - (before.samples[id]?.cpuSeconds ?? 0)) }
        return figures(read.compactMap { after.samples[$0] }, cpu: cpu, seconds: seconds, requests: requests(Set(read)), minRequests: minRequests)
    }

    /// What `instances` used since they started (CPU over their lifetime): the previous
    /// version's figures before a run, the new version's after one without an observation window.
    /// `requests` are HAProxy's counts since the instances joined it (reset if HAProxy was
    /// restarted since): CPU per request is then an overestimate, never an underestimate.
    static func lifetime(_ instances: [InstanceRecord], _ reading: ResourceReading, requests: (Set<String>) -> Int, minRequests: Int) -> ResourceFigures? {
        let read = instances.compactMap { instance in reading.samples[instance.id].map { (instance, $0) } }
        guard !read.isEmpty else { return nil }
        let seconds = read.reduce(0.0) { $0 + max(0.001, reading.date.timeIntervalSince($1.0.startedAt)) } / Double(read.count)
        return figures(read.map(\.1), cpu: read.reduce(0.0) { $0 + $1.1.cpuSeconds }, seconds: seconds,
                       requests: requests(Set(read.map(\.0.id))), minRequests: minRequests)
    }

    /// These figures with `other`'s CPU.
    func withCPU(from other: ResourceFigures) -> ResourceFigures {
        ResourceFigures(instances: instances, cpuPercent: other.cpuPercent, cpuPerRequest: other.cpuPerRequest, requests: other.requests,
                        residentBytes: residentBytes, maxResidentBytes: maxResidentBytes, openFiles: openFiles, seconds: other.seconds)
    }

    private static func figures(_ samples: [ResourceSample], cpu: Double, seconds: Double, requests: Int, minRequests: Int) -> ResourceFigures {
        let count = samples.count
        let percent: Double = cpu / seconds / Double(count) * 100
        let perRequest: Double? = requests >= minRequests && requests > 0 ? cpu * 1000 / Double(requests) : nil
        let resident: Int = samples.reduce(0) { $0 + $1.residentBytes }
        let files: Int = samples.reduce(0) { $0 + $1.openFiles }
        return ResourceFigures(instances: count, cpuPercent: percent, cpuPerRequest: perRequest, requests: requests, residentBytes: resident / count,
                               maxResidentBytes: samples.map(\.residentBytes).max() ?? 0, openFiles: files / count, seconds: seconds)
    }
}

extension Verdict {
    /// What a record's resources row says: `recorded` without rules, `pass`, or the reason.
    func recordText(_ reason: String, rules: ResourceRules) -> String {
        switch self {
        case .pass: rules.isEmpty ? "recorded" : "pass"
        case .inconclusive: "not judged: \(reason)"
        case .fail: reason
        }
    }
}

/// The `rollback` resource rules on one window: the new version's figures against the
/// previous version's (README, "Resource checks"). Differences under a floor are noise and
/// never fail: 8 MiB of memory per instance; 0.2 ms of CPU per request, or more where the
/// window is short or served few requests (see `noise`).
struct ResourceJudge {
    let rules: ResourceRules

    static let cpuFloorPerRequest = 0.2
    static let memoryFloor = 8 << 20

    /// How far a set's CPU per request can be off, in ms: the kernel counts CPU in 10 ms ticks
    /// (one each end of the window, per instance), and every instance does background work
    /// whatever it serves (health checks, timers, collection), allowed at 1% of a core. Both
    /// weigh the more, the fewer requests an instance served: a canary at 10% runs a whole set
    /// on a tenth of the traffic.
    static func noise(_ figures: ResourceFigures) -> Double {
        guard let requests = figures.requests, requests > 0 else { return 0 }
        return Double(figures.instances) * (0.02 + 0.01 * figures.seconds) * 1000 / Double(requests)
    }

    /// When the newest of `instances` is `warmup` old.
    func warmUntil(_ instances: [InstanceRecord]) -> Date {
        (instances.map(\.startedAt).max() ?? .distantPast).addingTimeInterval(rules.warmup.seconds)
    }

    /// Whether a window starting at `start` begins before the newest of `instances` is `warmup` old.
    func warmingUp(_ instances: [InstanceRecord], at start: Date) -> Bool { start < warmUntil(instances) }

    /// - Parameters:
    ///   - expectsPrevious: a previous version runs (not a first deployment): without its
    ///     figures the increases decide nothing.
    ///   - warmingUp: the window began before the newest new instance was `warmup` old: the
    ///     increases are not judged yet (inconclusive); `memoryLimit` is.
    func judge(new: ResourceFigures?, previous: ResourceFigures?, expectsPrevious: Bool, warmingUp: Bool) -> (verdict: Verdict, reason: String) {
        guard !rules.isEmpty else { return (.pass, (new?.text ?? "no reading of the new instances") + "; no resource rule set") }
        guard let new else { return (.inconclusive, "resources: no reading of the new instances") }
        if let limit = rules.memoryLimit, new.maxResidentBytes > limit {
            return (.fail(.memory), "resident memory \(ByteCount.text(new.maxResidentBytes)) on an instance, over the memoryLimit of \(ByteCount.text(limit))")
        }
        let compares = rules.cpuIncrease != nil || rules.memoryIncrease != nil
        if compares && warmingUp { return (.inconclusive, "resources: new instances warming up (rollback.warmup \(rules.warmup))") }
        guard compares else { return (.pass, new.text) }
        guard let previous else {
            return expectsPrevious ? (.inconclusive, "resources: no reading of the previous version's instances")
                : (.pass, new.text + "; no previous version to compare with")
        }
        if let increase = rules.memoryIncrease {
            let limit = max(Double(previous.residentBytes) * (1 + increase), Double(previous.residentBytes + Self.memoryFloor))
            if Double(new.residentBytes) > limit {
                return (.fail(.memory), "resident memory \(ByteCount.text(new.residentBytes)) per instance against \(ByteCount.text(previous.residentBytes)) for the previous version: over +\(Self.percent(increase)) (and \(ByteCount.text(Self.memoryFloor)))")
            }
        }
        if let increase = rules.cpuIncrease {
            // Per request only: the two sets serve different shares of the traffic, so their
            // shares of a core say nothing about each other.
            guard let current = new.cpuPerRequest, let before = previous.cpuPerRequest else {
                return (.inconclusive, "resources: CPU per request unknown for \(new.cpuPerRequest == nil ? "the new" : "the previous") version (too few requests)")
            }
            let allowed = max(before * (1 + increase), before + max(Self.cpuFloorPerRequest, Self.noise(new) + Self.noise(previous)))
            if current > allowed {
                return (.fail(.cpu), String(format: "CPU %.2f ms per request against %.2f ms for the previous version: over +%@ (%.2f ms allowed)",
                                            current, before, Self.percent(increase), allowed))
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

    /// The rules as a rollback's thresholds list them: `, CPU per request +50%, memory +50%, memory limit 512 MiB`.
    var thresholds: String {
        [rules.cpuIncrease.map { "CPU per request +\(Self.percent($0))" }, rules.memoryIncrease.map { "memory +\(Self.percent($0))" },
         rules.memoryLimit.map { "memory limit \(ByteCount.text($0))" }].compactMap { $0 }.map { ", " + $0 }.joined()
    }
}
