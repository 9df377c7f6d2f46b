import Foundation
import SlipwayManifest
import SlipwayRecords
import SlipwayHost
import SlipwayTraffic
import SlipwayCore

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
        let started = ContinuousClock.now, bound = duration.duration * 3
        var previous = try await read()
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

        while true {
            let remaining = duration.duration - (ContinuousClock.now - started)
            try await context.log.pause(for: remaining > .zero ? min(interval.duration, remaining) : interval.duration)
            let current = try await read()
            let (canary, base, resources) = window(from: previous, to: current)
            previous = current
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
                let why = undecided(since: started, pending: pending.canary.requests, total: total.canary.requests, lastReason: lastReason)
                context.log.judged(row(.rolledBack, why))
                try await context.rollBack(fresh, to: baseline, trigger: .inconclusive, reason: "\(label) at \(percent)%: \(why)",
                                           detected: .now, detectedAt: Date())
            }
        }
    }

    /// HAProxy's counters and the instances' usage at one moment.
    private struct Reading {
        let stats: [ServerStats]
        let usage: ResourceReading
    }

    private func read() async throws -> Reading {
        Reading(stats: try await context.traffic.stats(), usage: await ResourceReading.now(of: fresh + baseline, context.target))
    }

    /// What each set served between two readings, and the resource rules' verdict on them.
    private func window(from before: Reading, to after: Reading) -> (canary: Sample, baseline: Sample, resources: (verdict: Verdict, reason: String)) {
        let canary = Sample.between(before.stats, after.stats, servers: Set(fresh.map(\.id)))
        let base = Sample.between(before.stats, after.stats, servers: Set(baseline.map(\.id)))
        return (canary, base, judgeResources(before.usage, after.usage) { Sample.between(before.stats, after.stats, servers: $0).requests })
    }

    /// Why a step that reached three times its length without a decision is not promoted.
    private func undecided(since started: ContinuousClock.Instant, pending: Int, total: Int, lastReason: String) -> String {
        let span = "inconclusive for \(TimeSpan(milliseconds: started.elapsedMilliseconds)) (3 × the step)"
        // Enough traffic and still undecided: a query, or the resources (warm-up, no reading), had no answer.
        return pending >= context.policy.minRequests ? "\(span): \(lastReason); not promoted on no data"
            : "\(span): only \(total) request(s) reached the new version, \(context.policy.minRequests) needed for a decision; not promoted on no data"
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
