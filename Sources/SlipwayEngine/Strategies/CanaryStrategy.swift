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

/// Holds one step (a canary step, a rolling batch) and judges it window by window. A class:
/// what the baseline served carries over from one step to the next.
final class StepAnalyzer {
    let context: DeploymentContext
    /// How long the step is held, and how often it is judged.
    let duration: TimeSpan
    let interval: TimeSpan
    let fresh: [InstanceRecord]
    let baseline: [InstanceRecord]
    /// The last baseline window with traffic: what the canary is held to when the baseline
    /// serves nothing (the 100% step).
    private var reference: Sample?
    /// The `rollback.metrics` readings of the last window, for the step's row.
    private var readings: [QueryReading] = []
    /// Both versions' CPU and memory in the last window, for the step's row.
    private var usage: ResourceComparison?
    /// The last baseline window with CPU per request: what the new version's is held to when
    /// the baseline serves too little (as `reference` is for traffic).
    private var resourceReference: ResourceFigures?

    init(context: DeploymentContext, duration: TimeSpan, interval: TimeSpan, fresh: [InstanceRecord], baseline: [InstanceRecord]) {
        self.context = context
        self.duration = duration
        self.interval = interval
        self.fresh = fresh
        self.baseline = baseline
        // Until a window of its own has enough requests, the previous version's CPU per request
        // over its life before the run stands in.
        resourceReference = context.baselineResources?.cpuPerRequest == nil ? nil : context.baselineResources
    }

    /// Returns the step's summary when it passes; rolls back (throws) when a window fails or
    /// the step stays inconclusive past its bound.
    func hold(_ label: String, percent: Int) async throws -> String {
        let judge = Judge(policy: context.policy)
        let canaryNames = Set(fresh.map(\.id)), baselineNames = Set(baseline.map(\.id))
        let started = ContinuousClock.now, bound = duration.duration * 3
        var previous = try await context.traffic.stats()
        var pending = (canary: Sample.empty, baseline: Sample.empty)
        var total = (canary: Sample.empty, baseline: Sample.empty)
        var windows = 0, inconclusive = 0, conclusive = 0
        var lastReason = ""

        func row(_ decision: StepDecision, _ reason: String) -> StepAnalysis {
            StepAnalysis(step: label, weight: percent, milliseconds: started.elapsedMilliseconds, windows: windows,
                         inconclusiveWindows: inconclusive, canary: total.canary.metrics,
                         baseline: total.baseline.requests > 0 ? total.baseline.metrics : nil, decision: decision, reason: reason, queries: readings,
                         resources: usage)
        }
        var resourcesBefore = await ResourceReading.now(of: fresh + baseline, context.target)

        while true {
            let remaining = duration.duration - (ContinuousClock.now - started)
            try await context.log.pause(for: remaining > .zero ? min(interval.duration, remaining) : interval.duration)
            let current = try await context.traffic.stats()
            let canary = Sample.between(previous, current, servers: canaryNames)
            let base = Sample.between(previous, current, servers: baselineNames)
            let resourcesNow = await ResourceReading.now(of: fresh + baseline, context.target)
            let resources = judgeResources(resourcesBefore, resourcesNow) { [previous] in Sample.between(previous, current, servers: $0).requests }
            (previous, resourcesBefore) = (current, resourcesNow)
            windows += 1
            context.log.telemetry.window(context.environment, canary: canary.metrics, baseline: base.requests > 0 ? base.metrics : nil)
            pending = (pending.canary.adding(canary), pending.baseline.adding(base))
            total = (total.canary.adding(canary), total.baseline.adding(base))
            var window = pending.canary
            window.unhealthy = canary.unhealthy  // health is judged on the latest reading only
            let (verdict, reason) = await judgeWindow(judge, window, baseline: pending.baseline, resources: resources)
            lastReason = reason
            switch verdict {
            case .fail(let trigger):
                let detected = ContinuousClock.now, detectedAt = Date()
                context.log.judged(row(.rolledBack, reason))
                try await context.rollBack(fresh, to: baseline, trigger: trigger, reason: "\(label) at \(percent)%: \(reason)",
                                           detected: detected, detectedAt: detectedAt)
            case .pass:
                conclusive += 1
                if pending.baseline.requests > 0 { reference = pending.baseline }
                pending = (.empty, .empty)
            case .inconclusive:
                inconclusive += 1
            }
            let elapsed = ContinuousClock.now - started
            // A first deployment has nothing to compare with and nothing to go back to: a new
            // environment without traffic yet comes up once healthy; what traffic it gets is still judged.
            if elapsed >= duration.duration && (conclusive > 0 || baseline.isEmpty) {
                let why = conclusive > 0 ? lastReason
                    : "first deployment: \(total.canary.requests) request(s) in the step, too few to judge; promoted on its health checks (nothing ran before)"
                context.log.judged(row(.promoted, why))
                return conclusive == 0 ? why : "\(total.canary.requests) requests, \(total.canary.errors) errors, \(Int(total.canary.responseMilliseconds)) ms; \(conclusive) conclusive window(s)"
            }
            if elapsed >= bound {
                let span = "inconclusive for \(TimeSpan(milliseconds: started.elapsedMilliseconds)) (3 × the step)"
                // Enough traffic and still undecided: a query, or the resources (warm-up, no reading), had no answer.
                let why = pending.canary.requests >= context.policy.minRequests ? "\(span): \(lastReason); not promoted on no data"
                    : "\(span): only \(total.canary.requests) request(s) reached the new version, \(context.policy.minRequests) needed for a decision; not promoted on no data"
                context.log.judged(row(.rolledBack, why))
                try await context.rollBack(fresh, to: baseline, trigger: .inconclusive, reason: "\(label) at \(percent)%: \(why)",
                                           detected: .now, detectedAt: Date())
            }
        }
    }

    /// One window's verdict: HAProxy's numbers first, then (unless health already failed) the
    /// smoke checks, then the `rollback.metrics` queries: a window passes only when every
    /// query has data within its bound.
    private func judgeWindow(_ judge: Judge, _ window: Sample, baseline: Sample, resources: (verdict: Verdict, reason: String)) async -> (Verdict, String) {
        readings = []  // a window that fails before the queries asks none: its row shows none, not the last window's
        var (verdict, reason) = judge.judge(canary: window, baseline: baseline, reference: reference)
        if verdict != .fail(.health), let failure = await context.smoke.failure(of: fresh) {
            return (.fail(.smoke), failure)
        }
        if case .fail = verdict { return (verdict, reason) }
        switch resources.verdict {
        case .fail: return resources
        case .inconclusive: (verdict, reason) = (.inconclusive, "\(reason); \(resources.reason)")
        case .pass: break
        }
        let checks = context.metricChecks
        if checks.isEmpty { return (verdict, reason) }
        let metrics = await checks.judge()
        readings = metrics.readings
        switch metrics.verdict {
        case .fail: return (metrics.verdict, metrics.reason)
        case .inconclusive: return (.inconclusive, "\(reason); \(metrics.reason)")
        case .pass: return (verdict, "\(reason); \(metrics.reason)")
        }
    }
}

extension StepAnalyzer {
    /// Both sets' CPU and memory between two readings, judged by the `rollback` resource rules;
    /// kept for the step's row.
    /// `requests`: what the given instances served between the two readings.
    private func judgeResources(_ before: ResourceReading, _ after: ResourceReading, requests: (Set<String>) -> Int) -> (verdict: Verdict, reason: String) {
        let minimum = context.policy.minRequests
        let new = ResourceFigures.between(before, after, ids: fresh.map(\.id), requests: requests, minRequests: minimum)
        var previous = ResourceFigures.between(before, after, ids: baseline.map(\.id), requests: requests, minRequests: minimum)
        if previous?.cpuPerRequest != nil {
            resourceReference = previous
        } else if let current = previous, let reference = resourceReference, new?.cpuPerRequest != nil {
            previous = current.withCPU(from: reference)  // the baseline served too little in this window: its CPU per request as last seen
        }
        let judge = ResourceJudge(rules: context.policy.resources)
        let judged = judge.judge(new: new, previous: previous, expectsPrevious: !baseline.isEmpty, warmingUp: judge.warmingUp(fresh, at: before.date))
        usage = ResourceComparison(new: new, previous: previous, verdict: judged.verdict.recordText(judged.reason, rules: judge.rules))
        return judged
    }
}

extension Sample {
    var metrics: Metrics {
        Metrics(requests: requests, errors: errors, errorRate: (errorRate * 1000).rounded() / 10,
                responseMilliseconds: Int(responseMilliseconds.rounded()))
    }
}
