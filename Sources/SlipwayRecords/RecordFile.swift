/// Where a record lives in the ops repo, and what its path says about it.
///
/// `Deployments/<env>/YYYY/MM/DD/<deployment>_<from>_<to>_<result>.md`, for example
/// `Deployments/production/2026/11/26/20261126T181500Z-a1b2c3d_1.4.1_1.4.2_succeeded.md`.
///
/// - The day folder keeps the tree a record commit rewrites small however many records an
///   environment has (a month folder of a busy environment holds thousands).
/// - The name carries what `slipway history` prints, so history lists records from the tree
///   alone: reading 10,000 record blobs takes about ten times longer than listing their names.
public struct RecordFile: Sendable, Hashable {
    public static let root = "Deployments"

    /// `<UTC timestamp>-<short trigger commit>[-n]`.
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

    /// `YYYY/MM/DD` of the deployment's start, from its id.
    public var dayFolder: String? { Self.dayFolder(of: deployment) }

    /// The path of this record in the environment's folder.
    public func path(in environment: String) -> String {
        "\(Self.root)/\(environment)/\(dayFolder ?? "unknown")/\(name)"
    }

    /// Reads a record's file name back; nil for a name this layout did not write (a record
    /// from before it, `<deployment>.md`) or one whose versions cannot be told apart (a version
    /// with `_`). Callers then read the record itself.
    public init?(name: String) {
        guard name.hasSuffix(".md") else { return nil }
        let parts = name.dropLast(3).split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 4, Self.deployment(inName: String(parts[0])) != nil,
              let result = DeploymentResult(rawValue: String(parts[3])), !parts[2].isEmpty, !parts[1].isEmpty else { return nil }
        self.init(deployment: String(parts[0]), previousVersion: parts[1] == "none" ? nil : String(parts[1]),
                  version: String(parts[2]), result: result)
    }

    /// The deployment id at the start of any record file name, old layout or new: letters,
    /// digits and `-`, starting with its UTC time.
    public static func deployment(inName name: String) -> String? {
        let stem = name.hasSuffix(".md") ? name.dropLast(3) : Substring(name)
        let id = String(stem.prefix { $0 != "_" })
        guard id.utf8.count <= 64, id.utf8.allSatisfy({ (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || $0 == 45 }) else { return nil }
        return dayFolder(of: id) != nil ? id : nil
    }

    /// `YYYY/MM/DD` from an id that starts `YYYYMMDDT`.
    public static func dayFolder(of deployment: String) -> String? {
        let bytes = Array(deployment.utf8)
        guard bytes.count >= 16, bytes[8] == UInt8(ascii: "T"), bytes[0..<8].allSatisfy({ (48...57).contains($0) }) else { return nil }
        let digits = String(decoding: bytes[0..<8], as: UTF8.self)
        return "\(digits.prefix(4))/\(digits.dropFirst(4).prefix(2))/\(digits.suffix(2))"
    }

    /// The version as it may appear in a file name, nil when it may not.
    static func safe(_ version: String?) -> String? {
        guard let version, !version.isEmpty, version.utf8.count <= 64,
              version.utf8.allSatisfy({ isVersionByte($0) }), version.first != "." else { return nil }
        return version
    }

    private static func isVersionByte(_ byte: UInt8) -> Bool {
        (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte) || "._+~-".utf8.contains(byte)
    }
}
