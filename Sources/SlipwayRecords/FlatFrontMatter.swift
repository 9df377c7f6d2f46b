import Yams

/// The front matter of a status file as Slipway writes it, read without the YAML parser: one
/// `key: value` line per field, each value a plain word (`1.0.0`, an id, a result), a quoted
/// word (`"2026-11-28T17:28:16Z"`) or `{version: [id, id]}`. A plan reads thousands of them, and
/// the parser was a sixth of its time. Anything else (a reason with spaces, a comment, a key
/// twice, an indented line) returns nil and goes to the parser, which reads it — or says what
/// is wrong with it — as before; what is read here composes to the nodes the parser gives.
enum FlatFrontMatter {
    static func fields(_ text: String) -> Fields? {
        var nodes: [String: Node] = [:]
        for line in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                  line[line.startIndex..<colon].allSatisfy(isKeyByte), isLetter(line[line.startIndex]),
                  line.index(after: colon) < line.endIndex, line[line.index(after: colon)] == UInt8(ascii: " ") else { return nil }
            let key = String(decoding: line[line.startIndex..<colon], as: UTF8.self)
            guard nodes[key] == nil, let value = node(line[line.index(colon, offsetBy: 2)...]) else { return nil }
            nodes[key] = value
        }
        return nodes.isEmpty ? nil : Fields(nodes: nodes)
    }

    /// A plain word, a double-quoted word, or a flow mapping of words to lists of words.
    private static func node(_ value: Substring.UTF8View.SubSequence) -> Node? {
        guard let first = value.first else { return nil }
        if first == UInt8(ascii: "\"") {
            let inner = value.dropFirst().dropLast()
            guard value.count >= 2, value.last == UInt8(ascii: "\""), inner.allSatisfy({ isWordByte($0) || $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: ":") }) else { return nil }
            return .scalar(.init(String(decoding: inner, as: UTF8.self), Tag(.str, .basic, .default), .doubleQuoted))
        }
        if first == UInt8(ascii: "{") { return mapping(value) }
        return word(value).map(plain)
    }

    /// `{a: [x, y], b: []}`; nil for anything else.
    private static func mapping(_ value: Substring.UTF8View.SubSequence) -> Node? {
        guard value.last == UInt8(ascii: "}") else { return nil }
        let inner = value.dropFirst().dropLast()
        guard !inner.isEmpty else { return .mapping(.init([], implicit)) }
        var pairs: [(Node, Node)] = [], keys: Set<String> = []
        var rest = inner[...]
        while !rest.isEmpty {
            // `word: [`, items up to `]`, then `, ` or the end.
            guard let colon = rest.firstIndex(of: UInt8(ascii: ":")), let key = word(rest[rest.startIndex..<colon]), keys.insert(key).inserted,
                  rest[colon...].starts(with: ": [".utf8), let close = rest[colon...].firstIndex(of: UInt8(ascii: "]")) else { return nil }
            let list = rest[rest.index(colon, offsetBy: 3)..<close]
            var items: [Node] = []
            if !list.isEmpty {
                for item in list.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                    guard let text = word(item.first == UInt8(ascii: " ") && !items.isEmpty ? item.dropFirst() : item) else { return nil }
                    items.append(plain(text))
                }
            }
            pairs.append((plain(key), .sequence(.init(items, implicit))))
            rest = rest[rest.index(after: close)...]
            if rest.isEmpty { break }
            guard rest.starts(with: ", ".utf8), rest.count > 2 else { return nil }
            rest = rest.dropFirst(2)
        }
        return .mapping(.init(pairs, implicit))
    }

    /// The text of a plain word: letters, digits and `. _ - +`, starting with a letter or a
    /// digit (nothing YAML reads as anything but that text, in a block or in a flow).
    private static func word(_ bytes: Substring.UTF8View.SubSequence) -> String? {
        guard let first = bytes.first, isLetter(first) || isDigit(first), bytes.allSatisfy(isWordByte) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Tags as the parser gives them (`BoundedYAML.compose` resolves with `.basic`): node
    /// equality compares the tags' resolution.
    private static var implicit: Tag { Tag(.implicit, .basic, .default) }
    private static func plain(_ text: String) -> Node { .scalar(.init(text, implicit, .plain)) }

    private static func isLetter(_ byte: UInt8) -> Bool { (65...90).contains(byte) || (97...122).contains(byte) }
    private static func isDigit(_ byte: UInt8) -> Bool { (48...57).contains(byte) }
    private static func isKeyByte(_ byte: UInt8) -> Bool { isLetter(byte) || isDigit(byte) }
    private static func isWordByte(_ byte: UInt8) -> Bool {
        isLetter(byte) || isDigit(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+")
    }
}
