import Foundation

/// Replaces secret values with `***` in text that Slipway writes (log tails, error output),
/// for the case where an application prints its own secret.
public struct Redactor: Sendable {
    private let values: [String]

    /// Values shorter than 4 characters are not redacted: they would mangle ordinary text and
    /// are not secrets worth the name.
    public init(secrets: [String]) {
        values = secrets.filter { $0.count >= 4 }.sorted { $0.count > $1.count }
    }

    public func redact(_ text: String) -> String {
        values.reduce(text) { $0.replacingOccurrences(of: $1, with: "***") }
    }
}
