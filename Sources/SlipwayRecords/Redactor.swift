import Foundation

/// Replaces secret values with `***` in text that Slipway writes (log tails, gate output,
/// reasons), for the case where an application prints its own secret.
///
/// What is masked (README, "Security model"):
/// - a whole value of 4 characters or more, wherever it appears, across lines included;
/// - any piece of a value that is 8 characters or longer: a line of a multi-line key, or the
///   halves of a value printed in two writes with other output between them.
/// Values shorter than 4 characters are never masked (they would mangle ordinary text), nor are
/// pieces shorter than 8. Masking errs on the safe side: ordinary text that happens to share 8
/// characters with a secret (`-----BEGIN ` of a PEM key) is masked too.
public struct Redactor: Sendable {
    public static let shortestValue = 4
    public static let shortestPiece = 8

    private let matchers: [SubstringMatcher]

    public init(secrets: [String]) {
        matchers = Set(secrets).compactMap { value in
            value.utf8.count >= Self.shortestValue ? SubstringMatcher(Array(value.utf8)) : nil
        }
    }

    public func redact(_ text: String) -> String {
        guard !matchers.isEmpty else { return text }
        let bytes = Array(text.utf8)
        var masked = [Bool](repeating: false, count: bytes.count)
        for matcher in matchers {
            matcher.mark(in: bytes, shortest: min(Self.shortestPiece, matcher.length), into: &masked)
        }
        guard masked.contains(true) else { return text }
        // Whole characters only: a mask that starts or ends inside a multi-byte character takes all of it.
        for index in bytes.indices where masked[index] {
            var start = index
            while start > 0, bytes[start] & 0xC0 == 0x80 { start -= 1; masked[start] = true }
        }
        for index in bytes.indices.reversed() where masked[index] {
            var end = index + 1
            while end < bytes.count, bytes[end] & 0xC0 == 0x80 { masked[end] = true; end += 1 }
        }
        // A run never takes the line breaks at its ends: the lines around a masked value stay lines.
        var start = 0
        while start < bytes.count {
            guard masked[start] else { start += 1; continue }
            var end = start
            while end + 1 < bytes.count, masked[end + 1] { end += 1 }
            var first = start, last = end
            while first <= last, bytes[first] == 0x0A { masked[first] = false; first += 1 }
            while last >= first, bytes[last] == 0x0A { masked[last] = false; last -= 1 }
            start = end + 1
        }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if masked[index] {
                output.append(contentsOf: Array("***".utf8))
                while index < bytes.count, masked[index] { index += 1 }
            } else {
                output.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Redacts lines as one text, so that a value printed across several lines is found whole;
    /// the masked lines of a multi-line value become one `***`.
    public func redact(lines: [String]) -> [String] {
        guard !matchers.isEmpty else { return lines }
        return redact(lines.joined(separator: "\n")).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }
}

/// Finds where a text shares runs with one value: a suffix automaton of the value, walked over
/// the text in one pass (time linear in both, however long either is).
struct SubstringMatcher: Sendable {
    let length: Int
    private var lengths: [Int] = [0]
    private var links: [Int] = [-1]
    private var transitions: [[UInt8: Int]] = [[:]]

    init(_ value: [UInt8]) {
        length = value.count
        var last = 0
        for byte in value { last = extend(last, with: byte) }
    }

    private mutating func extend(_ last: Int, with byte: UInt8) -> Int {
        let current = lengths.count
        lengths.append(lengths[last] + 1)
        links.append(0)
        transitions.append([:])
        var state = last
        while state != -1, transitions[state][byte] == nil {
            transitions[state][byte] = current
            state = links[state]
        }
        guard state != -1 else { return current }
        let next = transitions[state][byte] ?? 0
        if lengths[state] + 1 == lengths[next] {
            links[current] = next
            return current
        }
        let clone = lengths.count
        lengths.append(lengths[state] + 1)
        links.append(links[next])
        transitions.append(transitions[next])
        while state != -1, transitions[state][byte] == next {
            transitions[state][byte] = clone
            state = links[state]
        }
        links[next] = clone
        links[current] = clone
        return current
    }

    /// Marks every run of `text` of at least `shortest` bytes that also occurs in the value.
    func mark(in text: [UInt8], shortest: Int, into masked: inout [Bool]) {
        // Runs found here start no earlier than the one before, so marking past the last marked
        // byte only keeps the pass linear.
        var state = 0, matched = 0, markedThrough = -1
        for (index, byte) in text.enumerated() {
            while state != 0, transitions[state][byte] == nil {
                state = links[state]
                matched = lengths[state]
            }
            if let next = transitions[state][byte] {
                state = next
                matched += 1
            } else {
                matched = 0
            }
            if matched >= shortest {
                for position in max(index + 1 - matched, markedThrough + 1)...index { masked[position] = true }
                markedThrough = index
            }
        }
    }
}
