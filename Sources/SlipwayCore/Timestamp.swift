public import Foundation

/// UTC timestamps in the two forms records use.
public enum Timestamp {
    /// `2026-11-26T18:15:00Z` (`gmtime_r`: a formatter object per call was measurable when
    /// `history` prints 100,000 lines).
    public static func iso(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    /// `2026-11-26T18:15:00.123Z`.
    public static func isoMilliseconds(_ date: Date) -> String {
        let milliseconds = Int((date.timeIntervalSince1970 * 1000).rounded(.down)) % 1000
        let digits = String(milliseconds)
        return iso(date).dropLast() + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }

    /// `20261126T181500Z`.
    public static func compact(_ date: Date) -> String {
        iso(date).filter { $0 != "-" && $0 != ":" }
    }

    /// `20261126T181500.123Z`.
    public static func compactMilliseconds(_ date: Date) -> String {
        isoMilliseconds(date).filter { $0 != "-" && $0 != ":" }
    }

    /// The time at the start of a deployment id: `20261126T181500.123Z-…` or `20261126T181500Z-…`.
    public static func parseCompact(_ id: String) -> Date? {
        var id = id
        return id.withUTF8 { parseCompact($0) }
    }

    /// The length of the time at the start of a deployment id (16 or 20), nil when there is none.
    public static func compactLength(_ b: UnsafeBufferPointer<UInt8>) -> Int? {
        guard b.count >= 16, b[8] == UInt8(ascii: "T") else { return nil }
        if b[15] == UInt8(ascii: "Z") { return 16 }
        guard b.count >= 20, b[15] == UInt8(ascii: "."), b[19] == UInt8(ascii: "Z"), b[16..<19].allSatisfy({ (48...57).contains($0) }) else { return nil }
        return 20
    }

    /// The same from bytes, without a calendar: history reads one per record it lists.
    public static func parseCompact(_ b: UnsafeBufferPointer<UInt8>) -> Date? {
        guard let length = compactLength(b) else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in b[range] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8), let hour = number(9..<11),
              let minute = number(11..<13), let second = number(13..<15),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        // Days from 1970-01-01 to the civil date (proleptic Gregorian; Howard Hinnant's method).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        let milliseconds = length == 20 ? number(16..<19) ?? 0 : 0
        return Date(timeIntervalSince1970: TimeInterval(days * 86_400 + hour * 3_600 + minute * 60 + second) + TimeInterval(milliseconds) / 1000)
    }

    /// Appends `2026-11-26T18:15:00Z` for a deployment id (`20261126T181500.123Z-…`) to `output`;
    /// false, appending nothing, when the id does not start with a time.
    public static func appendISO(fromCompact id: String, to output: inout [UInt8]) -> Bool {
        var id = id
        return id.withUTF8 { b in
            guard parseCompact(b) != nil else { return false }
            for index in 0..<16 where index != 15 {
                if index == 4 || index == 6 { output.append(UInt8(ascii: "-")) }
                if index == 11 || index == 13 { output.append(UInt8(ascii: ":")) }
                output.append(b[index])
            }
            output.append(UInt8(ascii: "Z"))  // to the second, without the milliseconds
            return true
        }
    }

    /// Reads `2026-11-26T18:15:00Z` (fractions of a second allowed) back; nil for anything else.
    public static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.last == UInt8(ascii: "Z"), bytes[10] == UInt8(ascii: "T") else { return nil }
        func number(_ range: Range<Int>) -> Int32? {
            bytes[range].allSatisfy { (48...57).contains($0) } ? Int32(String(decoding: bytes[range], as: UTF8.self)) : nil
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
              let minute = number(14..<16), let second = number(17..<19) else { return nil }
        var fraction = 0.0
        if bytes.count > 20 {
            guard bytes[19] == UInt8(ascii: "."), let value = Double("0" + String(decoding: bytes[19..<(bytes.count - 1)], as: UTF8.self)) else { return nil }
            fraction = value
        }
        var parts = tm()
        (parts.tm_year, parts.tm_mon, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec) = (year - 1900, month - 1, day, hour, minute, second)
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)) + fraction)
    }
}
