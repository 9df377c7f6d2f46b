import Yams

/// The front matter of a status file as Slipway writes it, read without the YAML parser: one
/// `key: value` line per field, each value a plain word (`1.0.0`, an id, a result), a quoted
/// word (`"2026-11-28T17:28:16Z"`) or `{version: [id, id]}`. A plan reads thousands of them, and
/// the parser was a sixth of its time. Anything else (a reason with spaces, a comment, a key
/// twice, an indented line) returns nil and goes to the parser, which reads it — or says what
/// is wrong with it — as before; what is read here composes to the nodes the parser gives.
enum FlatFrontMatter {
    static func fields(_ text: String) -> Fields? {
        let bytes = Array(text.utf8)
        var nodes: [String: Node] = [:]
        var start = 0
        while start <= bytes.count {
            let end = bytes[start...].firstIndex(of: newlineByte) ?? bytes.count
            // `key: value`, the key a word of letters and digits.
            guard let colon = bytes[start..<end].firstIndex(of: colonByte), colon > start, colon - start <= maximumKey, colon + 1 < end,
                  bytes[colon + 1] == spaceByte, isLetter(bytes[start]), bytes[start..<colon].allSatisfy({ isLetter($0) || isDigit($0) }) else { return nil }
            let key = String(decoding: bytes[start..<colon], as: UTF8.self)
            guard nodes[key] == nil, let value = node(bytes, colon + 2..<end) else { return nil }
            nodes[key] = value
            start = end + 1
        }
        return nodes.isEmpty ? nil : Fields(nodes: nodes)
    }

    /// libyaml reads no key longer than 1024 characters; these are far shorter.
    private static let maximumKey = 256
    private static let newlineByte = UInt8(ascii: "\n"), colonByte = UInt8(ascii: ":"), spaceByte = UInt8(ascii: " "), quoteByte = UInt8(ascii: "\"")

    /// A plain word, a double-quoted word, or a flow mapping of words to lists of words.
    private static func node(_ bytes: [UInt8], _ range: Range<Int>) -> Node? {
        guard let first = range.first.map({ bytes[$0] }) else { return nil }
        if first == quoteByte {
            guard range.count >= 2, bytes[range.upperBound - 1] == quoteByte else { return nil }
            let inner = range.lowerBound + 1..<range.upperBound - 1
            guard bytes[inner].allSatisfy({ isWordByte($0) || $0 == spaceByte || $0 == colonByte }) else { return nil }
            return .scalar(.init(String(decoding: bytes[inner], as: UTF8.self), Tag(.str, .basic, .default), .doubleQuoted))
        }
        if first == UInt8(ascii: "{") { return mapping(bytes, range) }
        return word(bytes, range).map(plain)
    }

    /// `{a: [x, y], b: []}`; nil for anything else.
    private static func mapping(_ bytes: [UInt8], _ range: Range<Int>) -> Node? {
        guard bytes[range.upperBound - 1] == UInt8(ascii: "}") else { return nil }
        var pairs: [(Node, Node)] = [], keys: Set<String> = []
        var at = range.lowerBound + 1
        let end = range.upperBound - 1
        while at < end {
            // `word: [`, items up to `]`, then `, ` or the end.
            guard let colon = bytes[at..<end].firstIndex(of: colonByte), colon - at <= maximumKey, let key = word(bytes, at..<colon), keys.insert(key).inserted,
                  colon + 3 <= end, bytes[colon + 1] == spaceByte, bytes[colon + 2] == UInt8(ascii: "["),
                  let close = bytes[(colon + 3)..<end].firstIndex(of: UInt8(ascii: "]")) else { return nil }
            var items: [Node] = []
            var item = colon + 3
            while item < close {
                let comma = bytes[item..<close].firstIndex(of: UInt8(ascii: ",")) ?? close
                guard let text = word(bytes, item..<comma) else { return nil }
                items.append(plain(text))
                item = comma + 1
                if item < close, bytes[item] == spaceByte { item += 1 }
                guard comma == close || item < close else { return nil }  // `[a, ]`
            }
            pairs.append((plain(key), .sequence(.init(items, implicit))))
            at = close + 1
            if at == end { break }
            guard at + 2 < end, bytes[at] == UInt8(ascii: ","), bytes[at + 1] == spaceByte else { return nil }
            at += 2
        }
        return .mapping(.init(pairs, implicit))
    }

    /// The text of a plain word: letters, digits and `. _ - +`, starting with a letter or a
    /// digit (nothing YAML reads as anything but that text, in a block or in a flow).
    private static func word(_ bytes: [UInt8], _ range: Range<Int>) -> String? {
        guard let first = range.first.map({ bytes[$0] }), isLetter(first) || isDigit(first), bytes[range].allSatisfy(isWordByte) else { return nil }
        return String(decoding: bytes[range], as: UTF8.self)
    }

    /// Tags as the parser gives them (`BoundedYAML.compose` resolves with `.basic`): node
    /// equality compares the tags' resolution.
    private static var implicit: Tag { Tag(.implicit, .basic, .default) }
    private static func plain(_ text: String) -> Node { .scalar(.init(text, implicit, .plain)) }

    private static func isLetter(_ byte: UInt8) -> Bool { (65...90).contains(byte) || (97...122).contains(byte) }
    private static func isDigit(_ byte: UInt8) -> Bool { (48...57).contains(byte) }
    private static func isWordByte(_ byte: UInt8) -> Bool {
        isLetter(byte) || isDigit(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+")
    }
}
