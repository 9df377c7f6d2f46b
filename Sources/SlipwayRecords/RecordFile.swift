/// Where a record lives in the ops repo, and what its path says about it.
///
/// `Deployments/<env>/YYYY-MM/DD/<deployment>_<from>_<to>_<result>.md`, for example
/// `Deployments/production/2026-11/26/20261126T181500.123Z-a1b2c3d_1.4.1_1.4.2_succeeded.md`.
///
/// - The day folder keeps the tree a record commit rewrites small however many records an
///   environment has (a month folder of a busy environment holds thousands); months side by
///   side rather than in year folders save a tree per commit (about 90 bytes packed: year
///   folders of all environments share a name, so git seldom finds a delta for them).
/// - The name carries what `slipway history` prints, so history lists records from the tree
///   alone: reading 10,000 record blobs takes about ten times longer than listing their names.
public struct RecordFile: Sendable, Hashable {
    public static let root = "Deployments"

    /// `<UTC timestamp with milliseconds>-<short trigger commit>[-n]`.
    public let deployment: String
    /// The version that ran before; nil for a first deployment (`none` in the name).
    public let previousVersion: String?
    public let version: String
    public let result: DeploymentResult

    public init(deployment: String, previousVersion: String?, version: String, result: DeploymentResult) {
        self.deployment = deployment
        self.previousVersion = previousVersion
        self.version = version
        self.result = result
    }

    /// `<deployment>_<from>_<to>_<result>.md`. A version that is not a plain version string
    /// (an invalid manifest's, say) is written as `invalid`: a name never carries a `/`.
    public var name: String {
        let from = previousVersion.map { Self.safe($0) ?? "invalid" } ?? "none"
        return "\(deployment)_\(from)_\(Self.safe(version) ?? "invalid")_\(result.rawValue).md"
    }

    /// `YYYY-MM/DD` of the deployment's start, from its id.
    public var dayFolder: String? { Self.dayFolder(of: deployment) }

    /// The path of this record in the environment's folder.
    public func path(in environment: String) -> String {
        "\(Self.root)/\(environment)/\(dayFolder ?? "unknown")/\(name)"
    }

    /// Reads a record's file name back; nil for a name this layout did not write (a record
    /// from before it, `<deployment>.md`) or one whose versions cannot be told apart (a version
    /// with `_`). Callers then read the record itself. Works on bytes: history parses 100,000
    /// names in one run.
    public init?(name: String) {
        var name = name
        guard let parsed = name.withUTF8({ Self.parse($0) }) else { return nil }
        self = parsed
    }

    /// The same from a name's bytes.
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> RecordFile? {
        let end = bytes.count - 3
        guard end > 0, bytes[end] == UInt8(ascii: "."), bytes[end + 1] == UInt8(ascii: "m"), bytes[end + 2] == UInt8(ascii: "d") else { return nil }
        var separators: (Int, Int, Int) = (-1, -1, -1)
        var count = 0
        for index in 0..<end where bytes[index] == UInt8(ascii: "_") {
            count += 1
            switch count {
            case 1: separators.0 = index
            case 2: separators.1 = index
            case 3: separators.2 = index
            default: return nil
            }
        }
        let (first, second, third) = separators
        guard count == 3, first > 0, second > first + 1, third > second + 1, third + 1 < end else { return nil }
        func text(_ range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) }
        guard isDeployment(UnsafeBufferPointer(rebasing: bytes[0..<first])),
              let result = DeploymentResult(rawValue: text((third + 1)..<end)) else { return nil }
        let previous = text((first + 1)..<second)
        return RecordFile(deployment: text(0..<first), previousVersion: previous == "none" ? nil : previous,
                          version: text((second + 1)..<third), result: result)
    }

    /// `<UTC time>-<7 hex digits>[-<n>]`: the shape `DeploymentRecord.id` gives, the `-n` a
    /// second run of one commit in one moment got.
    private static func isDeployment(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let length = Timestamp.compactLength(bytes), Timestamp.parseCompact(bytes) != nil, bytes.count >= length + 8,
              bytes[length] == UInt8(ascii: "-"), bytes[(length + 1)..<(length + 8)].allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
        else { return false }
        let rest = bytes[(length + 8)...]
        return rest.isEmpty || (rest.count >= 2 && rest.count <= 6 && rest.first == UInt8(ascii: "-") && rest.dropFirst().allSatisfy { (48...57).contains($0) })
    }

    /// The deployment id at the start of any record file name, old layout or new.
    public static func deployment(inName name: String) -> String? {
        var name = name
        return name.withUTF8 { bytes in
            let stem = bytes.count > 3 && bytes[(bytes.count - 3)...].elementsEqual(".md".utf8) ? bytes[..<(bytes.count - 3)] : bytes[...]
            let id = UnsafeBufferPointer(rebasing: stem.prefix { $0 != UInt8(ascii: "_") })
            return isDeployment(id) ? String(decoding: id, as: UTF8.self) : nil
        }
    }

    /// `a1b2c3d` from `20261126T181500.123Z-a1b2c3d[-2]`.
    public static func trigger(inDeployment id: String) -> String {
        var id = id
        return id.withUTF8 { bytes in
            guard let length = Timestamp.compactLength(bytes), bytes.count >= length + 8 else { return "" }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[(length + 1)..<(length + 8)]), as: UTF8.self)
        }
    }

    /// `YYYY-MM/DD` from an id that starts `YYYYMMDDT`.
    public static func dayFolder(of deployment: String) -> String? {
        let bytes = Array(deployment.utf8)
        guard bytes.withUnsafeBufferPointer({ Timestamp.parseCompact($0) }) != nil else { return nil }
        let digits = String(decoding: bytes[0..<8], as: UTF8.self)
        return "\(digits.prefix(4))-\(digits.dropFirst(4).prefix(2))/\(digits.suffix(2))"
    }

    /// `2026-11`: a month folder of the layout.
    public static func isMonthFolder(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        return bytes.count == 7 && bytes[4] == UInt8(ascii: "-") && (bytes[0..<4] + bytes[5..<7]).allSatisfy { (48...57).contains($0) }
    }

    /// `26`: a day folder of the layout.
    public static func isDayFolder(_ name: String) -> Bool {
        name.utf8.count == 2 && name.utf8.allSatisfy { (48...57).contains($0) }
    }

    /// The version as it may appear in a file name, nil when it may not.
    public static func safe(_ version: String?) -> String? {
        guard let version, !version.isEmpty, version.utf8.count <= 64,
              version.utf8.allSatisfy({ isVersionByte($0) }), version.first != "." else { return nil }
        return version
    }

    private static func isVersionByte(_ byte: UInt8) -> Bool {
        (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte) || "._+~-".utf8.contains(byte)
    }
}
