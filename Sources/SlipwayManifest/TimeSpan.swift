import Foundation
public import SlipwayCore

/// A duration written in a manifest as `500ms`, `1s`, `15m`, `1h` or a combination (`1m30s`).
public struct TimeSpan: Sendable, Hashable, Comparable, TextCodable {
    public let milliseconds: Int

    public init(milliseconds: Int) { self.milliseconds = milliseconds }
    public static func seconds(_ value: Int) -> TimeSpan { TimeSpan(milliseconds: value * 1000) }

    public var seconds: Double { Double(milliseconds) / 1000 }
    public var duration: Duration { .milliseconds(milliseconds) }

    /// Parses `1h30m`, `15m`, `1.5s`, `250ms`; nil for anything else (a bare number included:
    /// `stepDuration: 60` is ambiguous, so it is refused).
    public init?(text: String) {
        let units: [(String, Double)] = [("ms", 1), ("h", 3_600_000), ("m", 60_000), ("s", 1000)]
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        var total = 0.0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            guard let (unit, factor) = units.first(where: { rest.hasPrefix($0.0) }) else { return nil }
            rest = rest.dropFirst(unit.count)
            total += value * factor
        }
        guard total < Double(Int32.max) * 1000 else { return nil }
        self.milliseconds = Int(total.rounded())
    }

    public var description: String {
        var rest = milliseconds
        if rest == 0 { return "0s" }
        var text = ""
        for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] where rest >= size {
            text += "\(rest / size)\(unit)"
            rest %= size
        }
        return text
    }

    public static func < (lhs: TimeSpan, rhs: TimeSpan) -> Bool { lhs.milliseconds < rhs.milliseconds }


}
