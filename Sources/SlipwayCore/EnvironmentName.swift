/// A validated environment name: 1–63 lowercase letters, digits and inner dashes. It names
/// files (`Environments/<name>.yaml`, `Status/<name>.md`), so nothing else gets through.
public struct EnvironmentName: Sendable, Hashable, Comparable, TextCodable {
    public let rawValue: String

    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        func allowed(_ byte: UInt8) -> Bool { (97...122).contains(byte) || (48...57).contains(byte) }
        guard (1...63).contains(bytes.count), let first = bytes.first, let last = bytes.last,
              allowed(first), allowed(last), bytes.allSatisfy({ allowed($0) || $0 == 45 }) else { return nil }
        rawValue = text
    }

    public var description: String { rawValue }
    public var manifestPath: String { "Environments/\(rawValue).yaml" }
    public var statusPath: String { "Status/\(rawValue).md" }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public init?(text: String) { self.init(text) }

    /// The environment a manifest's path names (`Environments/web.yaml` → `web`), nil when none.
    public init?(manifestPath path: String) {
        guard let file = path.split(separator: "/").last, file.hasSuffix(".yaml") else { return nil }
        self.init(String(file.dropLast(5)))
    }

    public static let rule = "1–63 characters: lowercase letters, digits and inner dashes"
}
