/// Writes the YAML of front matter by hand: compact flow style where a block would take a
/// line per field, and scalars quoted exactly when another YAML reader (PyYAML, a forge's
/// renderer) would otherwise read them as something else — `1.10` as a number, `no` as false.
enum YAMLText {
    /// A scalar as plain text when that reads back as the same string in any context (block
    /// or flow), otherwise double-quoted with escapes.
    static func scalar(_ text: String) -> String {
        isPlainSafe(text) ? text : quoted(text)
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value)
                || scalar.value == 0xFEFF || (0x2028...0x2029).contains(scalar.value):
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// `{a: 1, b: x}` from pairs whose values are already YAML.
    static func flowMapping(_ pairs: [(String, String)]) -> String {
        "{" + pairs.map { "\(scalar($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
    }

    /// `[a, b]` from items that are already YAML.
    static func flowSequence(_ items: [String]) -> String {
        "[" + items.joined(separator: ", ") + "]"
    }

    /// Plain scalars are limited to a conservative alphabet that no YAML context treats
    /// specially (no `:`, `#`, `,`, brackets, quotes), start with a letter or digit, and are
    /// not one of the words or number shapes YAML 1.1 resolves to another type.
    static func isPlainSafe(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, let last = bytes.last, bytes.count <= 200, isAlphanumeric(first), last != 32 else { return false }
        let allowed = Set(" ._/+~<>@()-=".utf8)
        guard bytes.allSatisfy({ isAlphanumeric($0) || allowed.contains($0) || $0 >= 0x80 && $0 != 0xC2 && $0 != 0xE2 }) else { return false }
        if Self.reserved.contains(text.lowercased()) { return false }
        // Dates (2026-11-27) are quoted so they stay strings.
        let dateLike = bytes.count >= 8 && bytes[0..<4].allSatisfy(isDigit) && bytes[4] == UInt8(ascii: "-")
        return !isNumber(bytes) && !dateLike
    }

    /// The number shapes of YAML 1.1 and 1.2: `1`, `1_000`, `1.10`, `.5`, `1e3`, `1.5e-3`,
    /// `0x1F`, `0o17`, `0b101`. `1.1.0` and a commit id are not numbers.
    static func isNumber(_ bytes: [UInt8]) -> Bool {
        var body = bytes[...]
        if let sign = body.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { body = body.dropFirst() }
        guard !body.isEmpty else { return false }
        let lower = Array(body.map { $0 | 0x20 })
        if lower.count > 2, lower[0] == UInt8(ascii: "0"), "xob".utf8.contains(lower[1]) {
            return lower.dropFirst(2).allSatisfy { isDigit($0) || (97...102).contains($0) || $0 == 0x7F }  // `_` | 0x20 is 0x7F
        }
        var mantissa = body, exponent: ArraySlice<UInt8>? = nil
        if let e = body.firstIndex(where: { $0 | 0x20 == UInt8(ascii: "e") }) {
            mantissa = body[..<e]
            var rest = body[(e + 1)...]
            if let sign = rest.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { rest = rest.dropFirst() }
            exponent = rest
        }
        if let exponent, exponent.isEmpty || !exponent.allSatisfy(isDigit) { return false }
        let dots = mantissa.filter { $0 == UInt8(ascii: ".") }.count
        return dots <= 1 && mantissa.contains(where: isDigit) && mantissa.allSatisfy { isDigit($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (48...57).contains(byte) }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        isDigit(byte) || (65...90).contains(byte) || (97...122).contains(byte)
    }

    private static let reserved: Set<String> = ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf", ".nan", ".inf"]
}
