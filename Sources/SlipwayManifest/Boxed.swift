/// A manifest section kept behind a reference. A manifest is copied whole wherever it goes
/// (thousands per plan in a large ops repo); a section behind a reference copies in one step
/// where an inline one copies field by field. Reading and writing it looks the same.
@propertyWrapper
public struct Boxed<Value: Sendable & Hashable & Codable>: Sendable, Hashable, Codable {
    private final class Box: Sendable {
        let value: Value
        init(_ value: Value) { self.value = value }
    }

    private var box: Box

    public init(wrappedValue: Value) { box = Box(wrappedValue) }

    public var wrappedValue: Value {
        get { box.value }
        set { box = Box(newValue) }
    }

    public static func == (left: Self, right: Self) -> Bool { left.box === right.box || left.box.value == right.box.value }
    public func hash(into hasher: inout Hasher) { box.value.hash(into: &hasher) }

    /// Encoded and decoded as the section itself: the wrapper leaves no trace in JSON or in `fields`.
    public init(from decoder: any Decoder) throws { box = Box(try Value(from: decoder)) }
    public func encode(to encoder: any Encoder) throws { try box.value.encode(to: encoder) }
}
