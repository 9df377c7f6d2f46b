public import Foundation
import SlipwayManifest
import Yams
import SlipwayCore

/// The keys of one YAML mapping, first occurrence winning.
struct Fields {
    private let nodes: [String: Node]

    init(_ mapping: Node.Mapping) {
        nodes = Dictionary(mapping.map { ($0.key.scalar?.string ?? "", $0.value) }, uniquingKeysWith: { first, _ in first })
    }

    subscript(key: String) -> Node? { nodes[key] }

    /// A scalar's text; nil when missing, not a scalar, or YAML's null.
    func string(_ key: String) -> String? {
        guard let scalar = nodes[key]?.scalar, !(scalar.style == .plain && ["", "~", "null"].contains(scalar.string)) else { return nil }
        return scalar.string
    }

    func int(_ key: String) -> Int? { string(key).flatMap { Int($0) } }

    func nested(_ key: String) -> Fields? { nodes[key]?.mapping.map(Fields.init) }

    func required(_ key: String) throws -> String {
        guard let value = string(key) else { throw FrontMatterError("front matter has no valid \(key)") }
        return value
    }

    /// A typed identity (environment name, object id, deployment id), checked here where it is read.
    func required<Value: TextCodable>(_ key: String, as type: Value.Type) throws -> Value {
        guard let value = Value(text: try required(key)) else { throw FrontMatterError("\(key) is not a valid \(Value.self)") }
        return value
    }

    func optional<Value: TextCodable>(_ key: String, as type: Value.Type) -> Value? { string(key).flatMap { Value(text: $0) } }

    func date(_ key: String) throws -> Date {
        guard let text = string(key), let date = Timestamp.parse(text) else { throw FrontMatterError("\(key) is not a UTC time like 2026-11-26T18:15:00Z") }
        return date
    }
}

public struct FrontMatterError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
