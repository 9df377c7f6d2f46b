import Foundation
import Yams
import SlipwayCore

/// The keys of one YAML mapping, checked against the keys a section allows.
struct Fields {
    /// Dotted location of the mapping (`run`, `health.http`), empty for the root.
    let location: String
    let node: Node
    let entries: [String: (key: Node, value: Node)]

    func keyPath(_ key: String) -> String { location.isEmpty ? key : "\(location).\(key)" }

    /// The value under `key`; nil when absent or written as null.
    subscript(key: String) -> Node? {
        guard let value = entries[key]?.value, !value.isNull else { return nil }
        return value
    }
}

/// Reads typed values out of Yams nodes, recording a `Diagnostic` (with the node's line and
/// column) for every problem instead of stopping at the first one.
final class NodeReader {
    let path: String
    private(set) var diagnostics: [Diagnostic] = []

    init(path: String) { self.path = path }

    func report(_ node: Node?, _ message: String) {
        let mark = node?.mark
        diagnostics.append(Diagnostic(path: path, line: mark?.line ?? 1, column: mark?.column ?? 1, message: message))
    }

    /// A mapping whose keys must be among `allowed`; unknown keys are reported with a hint.
    func fields(_ node: Node, at location: String, allowed: [String]) -> Fields? {
        guard let mapping = node.mapping else {
            report(node, "\(location.isEmpty ? "the manifest" : location) must be a mapping of keys to values")
            return nil
        }
        var entries: [String: (key: Node, value: Node)] = [:]
        for (key, value) in mapping {
            guard let name = key.scalar?.string else {
                report(key, "keys must be plain strings")
                continue
            }
            let where_ = location.isEmpty ? "" : " in \(location)"
            guard allowed.contains(name) else {
                report(key, "unknown key \"\(name)\"\(where_)\(Spelling.hint(for: name, among: allowed))")
                continue
            }
            entries[name] = (key, value)
        }
        return Fields(location: location, node: node, entries: entries)
    }

    /// A nested mapping under `key`, or nil (reported when `required`).
    func section(_ fields: Fields, _ key: String, allowed: [String], required: Bool = false) -> Fields? {
        guard let value = fields[key] else {
            if required { report(fields.node, "missing required key \"\(fields.keyPath(key))\"") }
            return nil
        }
        return self.fields(value, at: fields.keyPath(key), allowed: allowed)
    }

    func string(_ fields: Fields, _ key: String, required: Bool = false) -> String? {
        guard let value = fields[key] else {
            if required { report(fields.node, "missing required key \"\(fields.keyPath(key))\"") }
            return nil
        }
        guard let scalar = value.scalar else {
            report(value, "\(fields.keyPath(key)) must be a string")
            return nil
        }
        return scalar.string
    }

    /// A string that must satisfy `isValid`; otherwise `rule` explains what is allowed.
    func string(_ fields: Fields, _ key: String, required: Bool = false, rule: String, isValid: (String) -> Bool) -> String? {
        guard let text = string(fields, key, required: required) else { return nil }
        guard isValid(text) else {
            // A URL with user information may hold a password: never repeated in an error.
            let shown = text.contains("://") && text.contains("@") ? "a URL with a user or password" : "\"\(text.clipped)\""
            report(fields[key], "\(fields.keyPath(key)): \(shown) is not valid (\(rule))")
            return nil
        }
        return text
    }

    func int(_ fields: Fields, _ key: String, default value: Int, range: ClosedRange<Int>) -> Int {
        guard let node = fields[key] else { return value }
        guard let scalar = node.scalar, scalar.style == .plain, let number = Int(scalar.string) else {
            report(node, "\(fields.keyPath(key)) must be a whole number")
            return value
        }
        guard range.contains(number) else {
            report(node, "\(fields.keyPath(key)) must be between \(range.lowerBound) and \(range.upperBound), not \(number)")
            return value
        }
        return number
    }

    func bool(_ fields: Fields, _ key: String, default value: Bool) -> Bool {
        guard let node = fields[key] else { return value }
        guard let scalar = node.scalar, scalar.style == .plain, let flag = Bool(scalar.string) else {
            report(node, "\(fields.keyPath(key)) must be true or false")
            return value
        }
        return flag
    }

    func span(_ fields: Fields, _ key: String, default value: TimeSpan, minimum: TimeSpan = .init(milliseconds: 1), maximum: TimeSpan? = nil) -> TimeSpan {
        optionalSpan(fields, key, minimum: minimum, maximum: maximum) ?? value
    }

    func optionalSpan(_ fields: Fields, _ key: String, minimum: TimeSpan = .init(milliseconds: 1), maximum: TimeSpan? = nil) -> TimeSpan? {
        guard let node = fields[key] else { return nil }
        guard let text = node.scalar?.string, let span = TimeSpan(text: text) else {
            report(node, "\(fields.keyPath(key)) must be a duration such as 500ms, 10s, 15m or 1h")
            return nil
        }
        guard span >= minimum else {
            report(node, "\(fields.keyPath(key)) must be at least \(minimum)")
            return nil
        }
        if let maximum, span > maximum {
            report(node, "\(fields.keyPath(key)) must be at most \(maximum)")
            return nil
        }
        return span
    }

    /// `512MiB`, `1GiB`, `300MB` → bytes (binary and decimal units; a bare number is refused:
    /// bytes or megabytes would both be plausible).
    func byteSize(_ fields: Fields, _ key: String, range: ClosedRange<Int>) -> Int? {
        guard let node = fields[key] else { return nil }
        let units: [(String, Int)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000)]
        let text = node.scalar?.string ?? ""
        guard let (unit, scale) = units.first(where: { text.hasSuffix($0.0) }),
              let number = Double(text.dropLast(unit.count).trimmingCharacters(in: .whitespaces)), number.isFinite, number > 0 else {
            report(node, "\(fields.keyPath(key)) must be a size such as 512MiB or 2GiB")
            return nil
        }
        let bytes = number * Double(scale)
        guard bytes >= Double(range.lowerBound), bytes <= Double(range.upperBound) else {
            report(node, "\(fields.keyPath(key)) must be between \(ByteCount.text(range.lowerBound)) and \(ByteCount.text(range.upperBound))")
            return nil
        }
        return Int(bytes)
    }

    /// `5%` → 5. A bare number is refused: "0.05" and "5" would both be plausible.
    func percentage(_ fields: Fields, _ key: String, default value: Double, maximum: Double) -> Double {
        guard let node = fields[key] else { return value }
        guard let text = node.scalar?.string, text.hasSuffix("%"),
              let number = Double(text.dropLast().trimmingCharacters(in: .whitespaces)), number.isFinite else {
            report(node, "\(fields.keyPath(key)) must be a percentage such as 5%")
            return value
        }
        guard (0...maximum).contains(number) else {
            report(node, "\(fields.keyPath(key)) must be between 0% and \(Int(maximum))%")
            return value
        }
        return number
    }

    func stringList(_ fields: Fields, _ key: String, required: Bool = false) -> [String]? {
        guard let node = fields[key] else {
            if required { report(fields.node, "missing required key \"\(fields.keyPath(key))\"") }
            return nil
        }
        guard let sequence = node.sequence else {
            report(node, "\(fields.keyPath(key)) must be a list of strings (an argv array, not a shell string)")
            return nil
        }
        var items: [String] = []
        for item in sequence {
            guard let scalar = item.scalar else {
                report(item, "\(fields.keyPath(key)) must hold strings only")
                continue
            }
            items.append(scalar.string)
        }
        return items
    }

    /// A mapping of strings to strings, in file order, with each value's node.
    func stringMap(_ fields: Fields, _ key: String) -> [(key: String, value: String, node: Node)] {
        let location = fields.keyPath(key)
        guard let node = fields[key] else { return [] }
        guard let mapping = node.mapping else {
            report(node, "\(location) must be a mapping of names to strings")
            return []
        }
        return mapping.compactMap { name, value in
            guard let name = name.scalar?.string, let text = value.scalar?.string else {
                report(value, "\(location) must map names to strings")
                return nil
            }
            return (name, text, value)
        }
    }
}

extension Node {
    var isNull: Bool {
        guard let scalar = scalar, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }
}

extension String {
    /// At most 60 characters, for quoting user input in messages.
    var clipped: String { count > 60 ? prefix(57) + "..." : self }
}
