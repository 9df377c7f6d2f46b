import Foundation

extension Strategy {
    private enum Key: String, CodingKey { case rolling, canary, blueGreen }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        if let spec = try container.decodeIfPresent(RollingSpec.self, forKey: .rolling) {
            self = .rolling(spec)
        } else if let spec = try container.decodeIfPresent(CanarySpec.self, forKey: .canary) {
            self = .canary(spec)
        } else {
            self = .blueGreen(try container.decode(BlueGreenSpec.self, forKey: .blueGreen))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        switch self {
        case .rolling(let spec): try container.encode(spec, forKey: .rolling)
        case .canary(let spec): try container.encode(spec, forKey: .canary)
        case .blueGreen(let spec): try container.encode(spec, forKey: .blueGreen)
        }
    }
}

extension Manifest {
    /// Every field with its effective value (defaults applied), as `run.replicas` → `3`, in
    /// key order. Secrets appear as their reference (`env:NAME`), never as a value: the value is
    /// not part of a manifest at all.
    public var fields: [(path: String, value: String)] {
        let encoder = JSONEncoder()
        guard let data = try? encoder.encode(self),
              let tree = try? JSONDecoder().decode(JSONValue.self, from: data) else { return [] }
        var result: [(path: String, value: String)] = []
        tree.flatten(prefix: "", into: &result)
        return result
    }
}

/// A decoded JSON tree, used to flatten a manifest's encoding into dotted fields.
private enum JSONValue: Decodable {
    case text(String), integer(Int), number(Double), flag(Bool), list([JSONValue]), object([String: JSONValue]), null

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .flag(value) }
        else if let value = try? container.decode(Int.self) { self = .integer(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .text(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .list(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    var scalar: String {
        switch self {
        case .text(let text): text
        case .integer(let value): "\(value)"
        case .number(let value): "\(value)"
        case .flag(let value): value ? "true" : "false"
        case .list(let items): "[" + items.map { if case .text(let t) = $0 { "\"\(t)\"" } else { $0.scalar } }.joined(separator: ", ") + "]"
        case .object, .null: ""
        }
    }

    func flatten(prefix: String, into result: inout [(path: String, value: String)]) {
        switch self {
        case .object(let members):
            if members.isEmpty { result.append((prefix, "{}")) }
            for key in members.keys.sorted() {
                members[key]?.flatten(prefix: prefix.isEmpty ? key : "\(prefix).\(key)", into: &result)
            }
        case .null:
            break
        default:
            result.append((prefix, scalar))
        }
    }
}
