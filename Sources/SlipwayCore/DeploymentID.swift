public import Foundation
import Synchronization

/// One run's id: `<UTC time with milliseconds>-<short trigger commit>[-n]`, e.g.
/// `20261126T181500.123Z-a1b2c3d` (records written before milliseconds: `20261126T181500Z-a1b2c3d`).
/// It names the record file and the `Slipway-Deployment` trailer, so it is checked where it
/// is read back (a file name, a trailer, a journal) and never re-parsed after that.
public struct DeploymentID: Sendable, Hashable, Comparable, TextCodable {
    public let rawValue: String

    /// The id of a run started at `date` for `trigger`, as it is: see `next` for one no other run has.
    public init(startedAt date: Date, trigger: ObjectID) {
        rawValue = "\(Timestamp.compactMilliseconds(date))-\(trigger.short)"
    }

    /// The last millisecond an id of this process names: each next one names a later one.
    private static let lastIssued = Mutex<Int64>(0)

    /// The id of a run started at `date` for `trigger` that no other run has: its millisecond is
    /// later than every id this process gave before, whatever the environment (runs of parallel
    /// lanes start in the same millisecond), and than the environment's `previous` run (a run of
    /// another process: Slipway's lock lets one at a time); a millisecond or a few after `date`
    /// when it has to be. A `previous` more than a second ahead of `date` (another machine's
    /// clock, a hand-edited status) is not followed.
    public static func next(startedAt date: Date, trigger: ObjectID, after previous: DeploymentID? = nil) -> DeploymentID {
        let now = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let before = previous?.started.map { Int64(($0.timeIntervalSince1970 * 1000).rounded(.down)) }.flatMap { $0 <= now + 1000 ? $0 : nil } ?? 0
        let millisecond = lastIssued.withLock { last in
            // After the clock stepped back by more than a second, ids follow the clock again.
            last = max(now, (last <= now + 1000 ? last : 0) + 1, before + 1)
            return last
        }
        return DeploymentID(startedAt: Date(timeIntervalSince1970: Double(millisecond) / 1000 + 0.000_1), trigger: trigger)
    }

    public init?(_ text: String) {
        var text = text
        guard text.withUTF8(Self.isValid) else { return nil }
        rawValue = text
    }

    public init?(text: String) { self.init(text) }

    /// From a file name's or trailer's bytes (history reads 100,000 of them in one run).
    public init?(bytes: UnsafeBufferPointer<UInt8>) {
        guard Self.isValid(bytes) else { return nil }
        rawValue = String(decoding: bytes, as: UTF8.self)
    }

    private init(checkedRawValue: String) { rawValue = checkedRawValue }

    public var description: String { rawValue }

    /// When the run started.
    public var started: Date? {
        var text = rawValue
        return text.withUTF8 { Timestamp.parseCompact($0) }
    }

    /// `a1b2c3d`: the trigger commit's short id.
    public var trigger: String {
        var text = rawValue
        return text.withUTF8 { bytes in
            guard let length = Timestamp.compactLength(bytes) else { return "" }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[(length + 1)..<(length + 8)]), as: UTF8.self)
        }
    }

    /// `YYYY-MM/DD` of the start: the day folder of the record layout.
    public var dayFolder: String {
        let digits = rawValue.utf8.prefix(8).map { Character(UnicodeScalar($0)) }
        return "\(String(digits[0..<4]))-\(String(digits[4..<6]))/\(String(digits[6..<8]))"
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `<UTC time>-<7 hex digits>[-<n>]`.
    public static func isValid(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let length = Timestamp.compactLength(bytes), Timestamp.parseCompact(bytes) != nil, bytes.count >= length + 8,
              bytes[length] == UInt8(ascii: "-"), bytes[(length + 1)..<(length + 8)].allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
        else { return false }
        let rest = bytes[(length + 8)...]
        return rest.isEmpty || (rest.count >= 2 && rest.count <= 6 && rest.first == UInt8(ascii: "-") && rest.dropFirst().allSatisfy { (48...57).contains($0) })
    }
}

extension DeploymentID {
    /// `YYYY-MM/DD` of `date`: the day folder a run started then writes its record in.
    public static func dayFolder(of date: Date) -> String {
        DeploymentID(checkedRawValue: Timestamp.compactMilliseconds(date) + "-0000000").dayFolder
    }
}
