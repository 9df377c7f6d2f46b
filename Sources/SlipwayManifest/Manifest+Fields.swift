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
        let encoder = FieldEncoder(path: "", sink: FieldEncoder.Sink())
        try? encode(to: encoder)
        encoder.finish()
        return encoder.sink.fields.sorted { $0.path < $1.path }
    }

    /// A field's value (from `fields`) as the manifest writes it, for showing a change: the
    /// rollback rules as percentages and a size, not as the fraction, percentage points and
    /// bytes they are kept as. For display only: whether a field changed is decided on the
    /// values kept, so that no rounding here can hide a change.
    public static func shown(_ path: String, _ value: String) -> String {
        switch path {
        case "rollback.errorRateIncrease": Double(value).map { "\(plain($0))%" } ?? value
        case "rollback.latencyIncrease", "rollback.cpuIncrease", "rollback.memoryIncrease": Double(value).map { "\(plain($0 * 100))%" } ?? value
        case "rollback.memoryLimit": Int(value).map(exactSize) ?? value
        default: value
        }
    }

    /// `50`, `2.5`: at most nine decimals, which undoes a fraction's binary rounding (0.3 × 100).
    private static func plain(_ value: Double) -> String { ((value * 1e9).rounded() / 1e9).formatted }

    /// `512 MiB`, `3 GiB`: the largest unit that divides the size exactly, so none is rounded.
    private static func exactSize(_ bytes: Int) -> String {
        for (unit, size) in [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] where bytes % size == 0 && bytes != 0 {
            return "\(bytes / size) \(unit)"
        }
        return "\(bytes) B"
    }
}

/// An `Encoder` that flattens a value into dotted paths: nested keys join with `.`, a list
/// becomes one field `["a", "b"]`. (A JSON round trip did the same at ten times the cost.)
private final class FieldEncoder: Encoder {
    final class Sink { var fields: [(path: String, value: String)] = [] }

    let path: String
    let sink: Sink
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] = [:]
    /// What this value turned out to be once encoded.
    var scalar: String?
    var items: [String]?
    var isKeyed = false
    private var keyedFields = 0

    init(path: String, sink: Sink) {
        self.path = path
        self.sink = sink
    }

    func child(_ key: String) -> FieldEncoder {
        FieldEncoder(path: path.isEmpty ? key : "\(path).\(key)", sink: sink)
    }

    /// Writes what a scalar or list child encoded, `{}` for an empty mapping.
    func finish() {
        if let scalar {
            sink.fields.append((path, scalar))
        } else if let items {
            sink.fields.append((path, "[\(items.joined(separator: ", "))]"))
        } else if isKeyed && keyedFields == 0 {
            sink.fields.append((path, "{}"))
        }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        isKeyed = true
        return KeyedEncodingContainer(Keyed(encoder: self))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        items = items ?? []
        return Unkeyed(encoder: self)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { Single(encoder: self) }

    func encodeNested(_ value: some Encodable, key: String) throws {
        keyedFields += 1
        let child = child(key)
        try value.encode(to: child)
        child.finish()
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let encoder: FieldEncoder
        var codingPath: [any CodingKey] { [] }
        mutating func encodeNil(forKey key: Key) throws {}
        mutating func encode(_ value: some Encodable, forKey key: Key) throws { try encoder.encodeNested(value, key: key.stringValue) }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            encoder.child(key.stringValue).container(keyedBy: keyType)
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer { encoder.child(key.stringValue).unkeyedContainer() }
        mutating func superEncoder() -> any Encoder { encoder }
        mutating func superEncoder(forKey key: Key) -> any Encoder { encoder.child(key.stringValue) }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let encoder: FieldEncoder
        var codingPath: [any CodingKey] { [] }
        var count: Int { encoder.items?.count ?? 0 }
        mutating func encodeNil() throws { encoder.items?.append("null") }
        mutating func encode(_ value: some Encodable) throws {
            let item = FieldEncoder(path: "", sink: Sink())
            try value.encode(to: item)
            if let text = item.scalar {
                encoder.items?.append(value is String ? "\"\(text)\"" : text)
            } else {
                encoder.items?.append("{" + item.sink.fields.map { "\($0.path): \($0.value)" }.joined(separator: ", ") + "}")
            }
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            FieldEncoder(path: "", sink: Sink()).container(keyedBy: keyType)
        }
        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { FieldEncoder(path: "", sink: Sink()).unkeyedContainer() }
        mutating func superEncoder() -> any Encoder { encoder }
    }

    struct Single: SingleValueEncodingContainer {
        let encoder: FieldEncoder
        var codingPath: [any CodingKey] { [] }
        mutating func encodeNil() throws {}
        mutating func encode(_ value: Bool) throws { encoder.scalar = value ? "true" : "false" }
        mutating func encode(_ value: String) throws { encoder.scalar = value }
        mutating func encode(_ value: Double) throws { encoder.scalar = value == value.rounded() ? String(Int(value)) : String(value) }
        mutating func encode(_ value: Int) throws { encoder.scalar = String(value) }
        mutating func encode(_ value: some Encodable) throws {
            if let number = value as? any BinaryInteger { encoder.scalar = "\(number)"; return }
            if let number = value as? Float { try encode(Double(number)); return }
            try value.encode(to: encoder)
        }
    }
}
