import Foundation
public import SlipwayManifest
public import SlipwayRecords
public import SlipwayCore

/// The verdict on one analysis window: the canary against the baseline over the same window.
public enum Verdict: Sendable, Hashable {
    case pass
    /// Fewer than `minRequests` reached the canary: no decision either way.
    case inconclusive
    case fail(RollbackTrigger)

    public var name: String {
        switch self {
        case .pass: "pass"
        case .inconclusive: "inconclusive"
        case .fail(let trigger): "fail (\(trigger.rawValue))"
        }
    }
}

/// Decides a window, and says why in words the record keeps.
public struct Judge: Sendable {
    public let policy: RollbackPolicy

    public init(policy: RollbackPolicy) { self.policy = policy }

    /// - Parameters:
    ///   - canary: what the new version served in the window.
    ///   - baseline: what the running version served in the same window; nil or empty when it
    ///     served nothing (first deployment, or the canary took all the traffic), in which case
    ///     `reference` — the last baseline window that had traffic — stands in.
    public func judge(canary: Sample, baseline: Sample?, reference: Sample?) -> (verdict: Verdict, reason: String) {
        if !canary.unhealthy.isEmpty {
            return (.fail(.health), "health checks failing on \(canary.unhealthy.joined(separator: ", "))")
        }
        guard canary.requests >= policy.minRequests else {
            return (.inconclusive, "\(canary.requests) request(s) reached the new version; \(policy.minRequests) needed to decide")
        }
        let base = (baseline?.requests ?? 0) > 0 ? baseline : reference
        let baseRate = base?.errorRate ?? 0
        let increase = (canary.errorRate - baseRate) * 100
        if increase > policy.errorRateIncrease {
            return (.fail(.errorRate), String(format: "error rate %.1f%% vs %.1f%% for the baseline: +%.1f points, over the +%g allowed",
                                             canary.errorRate * 100, baseRate * 100, increase, policy.errorRateIncrease))
        }
        if let base, base.requests > 0 {
            // HAProxy counts in whole milliseconds and a fast baseline reads 0; below 5 ms both
            // sides are noise on loopback, so the limit never drops under that.
            let limit = max(base.responseMilliseconds * (1 + policy.latencyIncrease), 5)
            if canary.responseMilliseconds > limit {
                return (.fail(.latency), String(format: "response time %.0f ms vs %.0f ms for the baseline, over the %.0f ms allowed (+%.0f%%, at least 5 ms)",
                                               canary.responseMilliseconds, base.responseMilliseconds, limit, policy.latencyIncrease * 100))
            }
        }
        let against = base == nil ? "no baseline to compare with; absolute error rate checked" :
            String(format: "baseline %.1f%% errors, %.0f ms", baseRate * 100, base?.responseMilliseconds ?? 0)
        return (.pass, String(format: "%d requests, %.1f%% errors, %.0f ms (%@)", canary.requests, canary.errorRate * 100,
                              canary.responseMilliseconds, against))
    }
}
