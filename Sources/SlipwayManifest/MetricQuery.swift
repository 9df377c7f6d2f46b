import Foundation

/// One `rollback.metrics` entry: a PromQL query, its placeholders (`{version}`, `{env}`,
/// `{service}`) filled in for the version judged, and its bound.
public struct MetricQuery: Sendable, Hashable, Codable {
    public var name: String
    public var query: String
    /// Fails when the new version's value is above this.
    public var max: Double?
    /// Fails when the new version's value is above the previous version's, same query, by more
    /// than this share (0.5 = 50%).
    public var maxIncrease: Double?

    public static let placeholders = ["version", "env", "service"]

    /// The query for one version.
    public func promQL(version: String, env: String, service: String) -> String {
        query.replacingOccurrences(of: "{version}", with: version).replacingOccurrences(of: "{env}", with: env)
            .replacingOccurrences(of: "{service}", with: service)
    }

    /// `{name}` tokens in the query (PromQL's own braces always hold a matcher, never a bare word).
    public var placeholderNames: [String] {
        var names: [String] = []
        var rest = Substring(query)
        while let open = rest.firstIndex(of: "{") {
            let after = rest[rest.index(after: open)...]
            let word = after.prefix { $0.isLetter || $0 == "_" }
            if !word.isEmpty, after.dropFirst(word.count).first == "}" { names.append(String(word)) }
            rest = after
        }
        return names
    }

    /// How the bound reads in records: `max 0.05`, `+50% over the previous version`.
    public var bound: String {
        [max.map { "max \($0.formatted)" }, maxIncrease.map { "+\(Int(($0 * 100).rounded()))% over the previous version" }]
            .compactMap { $0 }.joined(separator: ", ")
    }
}

extension Double {
    /// Without a trailing `.0`: `5`, `0.5`.
    public var formatted: String { self == rounded() && abs(self) < 1e15 ? String(Int(self)) : String(self) }
}
