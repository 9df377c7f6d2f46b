import Foundation
import SlipwayCore
import SlipwayHost
import SlipwayManifest
import SlipwayRecords

/// The `rollback.metrics` queries of a deployment, asked of Prometheus for the new version and
/// (for `maxIncrease`) the previous one. A query without data, or one Prometheus does not
/// answer, is inconclusive: never a pass.
struct MetricChecks: Sendable {
    let queries: [MetricQuery]
    let server: String?
    let environment: EnvironmentName
    let service: String
    let version: String
    /// The version the new one is compared with; nil on a first deployment.
    let previousVersion: String?
    /// After the rollout (post-deploy) the previous version no longer serves and its series
    /// fade: `maxIncrease` is judged when its data is still there, and not held against the new
    /// version when it is gone (the analysis windows compared them side by side).
    var afterRollout = false
    /// The door to Prometheus: the query and the server; returns nil for no data.
    var ask: @Sendable (String, String) async throws -> Double? = { try await PrometheusQuery.value(of: $0, at: $1) }

    var isEmpty: Bool { queries.isEmpty }

    /// Every query's reading, and the verdict: the first bound passed fails the window; any
    /// query without data makes it inconclusive.
    func judge() async -> (verdict: Verdict, reason: String, readings: [QueryReading]) {
        guard let server, !queries.isEmpty else { return (.pass, "", []) }
        var readings: [QueryReading] = [], failure: String?, missing: [String] = []
        for query in queries {
            let (reading, outcome) = await read(query, from: server)
            readings.append(reading)
            switch outcome {
            case .fail(let why): failure = failure ?? why
            case .inconclusive(let why): missing.append(why)
            case .pass: break
            }
        }
        if let failure { return (.fail(.metric), failure, readings) }
        if !missing.isEmpty { return (.inconclusive, missing.joined(separator: "; "), readings) }
        return (.pass, readings.map { "\($0.name) \(QueryReading.text($0.value))" }.joined(separator: ", ") + " within bounds", readings)
    }

    private enum Outcome { case pass, fail(String), inconclusive(String) }

    private func read(_ query: MetricQuery, from server: String) async -> (QueryReading, Outcome) {
        func value(_ version: String) async -> Result<Double?, any Error> {
            do {
                return .success(try await ask(query.promQL(version: version, env: environment.rawValue, service: service), server))
            } catch {
                return .failure(error)
            }
        }
        let new = await value(version)
        let old: Result<Double?, any Error>? = if query.maxIncrease != nil, let previousVersion, previousVersion != version { await value(previousVersion) } else { nil }
        let current = try? new.get(), previous = (try? old?.get()) ?? nil
        let outcome: Outcome
        if case .failure(let error) = new {
            outcome = .inconclusive("\(query.name): \(ErrorText.sentence(error))")
        } else if let current = current ?? nil {
            outcome = judge(query, current, previous: previous, old: old)
        } else {
            outcome = .inconclusive("\(query.name): no data for \(version)")
        }
        let verdict = switch outcome {
        case .pass: "pass"
        case .fail(let why), .inconclusive(let why): why
        }
        return (QueryReading(name: query.name, value: current ?? nil, previous: previous, bound: query.bound, verdict: verdict), outcome)
    }

    private func judge(_ query: MetricQuery, _ value: Double, previous: Double?, old: Result<Double?, any Error>?) -> Outcome {
        if let max = query.max, value > max {
            return .fail("\(query.name) \(QueryReading.text(value)) over max \(max.formatted)")
        }
        // A first deployment has no previous version, and a change that keeps the version cannot
        // tell the two apart in a query: `maxIncrease` has nothing to compare then; `max` still holds.
        guard let increase = query.maxIncrease, let previousVersion, previousVersion != version else { return .pass }
        if case .failure(let error) = old { return .inconclusive("\(query.name) for \(previousVersion): \(ErrorText.sentence(error))") }
        guard let previous else {
            return afterRollout ? .pass : .inconclusive("\(query.name): no data for the previous version \(previousVersion)")
        }
        let limit = previous * (1 + increase)
        if value > limit && value - previous > 1e-12 {
            return .fail("\(query.name) \(QueryReading.text(value)) against \(QueryReading.text(previous)) for \(previousVersion): over +\(Int((increase * 100).rounded()))%")
        }
        return .pass
    }
}
