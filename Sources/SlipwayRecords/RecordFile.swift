public import SlipwayCore
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

    public let deployment: DeploymentID
    /// The version that ran before; nil for a first deployment (`none` in the name).
    public let previousVersion: String?
    public let version: String
    public let result: DeploymentResult

    public init(deployment: DeploymentID, previousVersion: String?, version: String, result: DeploymentResult) {
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

    /// The path of this record in the environment's folder.
    public func path(in environment: EnvironmentName) -> String {
        "\(Self.root)/\(environment)/\(deployment.dayFolder)/\(name)"
    }

    /// Reads a record's file name back; nil for any other name (see `Kind`). Works on bytes:
    /// history parses 100,000 names in one run.
    public init?(name: String) {
        var name = name
        guard case .named(let parsed)? = name.withUTF8({ Self.kind(of: $0) }) else { return nil }
        self = parsed
    }

    /// What a file under `Deployments/<env>/` is, judged by its name alone.
    public enum Kind: Sendable, Equatable {
        /// A record whose name says all that history shows.
        case named(RecordFile)
        /// A record whose name does not say enough — written before names carried versions
        /// (`<deployment>.md`), or with a version that has `_` in it: its front matter does.
        case unnamed(deployment: DeploymentID)
        /// Anything else (notes, attachments): left alone, never listed.
        case other
    }

    public static func kind(of bytes: UnsafeBufferPointer<UInt8>) -> Kind {
        let end = bytes.count - 3
        guard end > 0, bytes[end] == UInt8(ascii: "."), bytes[end + 1] == UInt8(ascii: "m"), bytes[end + 2] == UInt8(ascii: "d") else { return .other }
        let first = (0..<end).first { bytes[$0] == UInt8(ascii: "_") } ?? end
        guard let deployment = DeploymentID(bytes: UnsafeBufferPointer(rebasing: bytes[0..<first])) else { return .other }
        if first == end { return .unnamed(deployment: deployment) }
        guard let last = (first..<end).last(where: { bytes[$0] == UInt8(ascii: "_") }), last > first,
              let result = DeploymentResult(rawValue: String(decoding: UnsafeBufferPointer(rebasing: bytes[(last + 1)..<end]), as: UTF8.self)) else {
            return .other
        }
        let versions = bytes[(first + 1)..<last]
        guard versions.allSatisfy(isVersionByte) else { return .other }
        let separators = versions.indices.filter { versions[$0] == UInt8(ascii: "_") }
        guard separators.count == 1, let middle = separators.first, middle > first + 1, middle + 1 < last else {
            return .unnamed(deployment: deployment)  // a version with `_`: the two cannot be told apart
        }
        let previous = String(decoding: UnsafeBufferPointer(rebasing: bytes[(first + 1)..<middle]), as: UTF8.self)
        let version = String(decoding: UnsafeBufferPointer(rebasing: bytes[(middle + 1)..<last]), as: UTF8.self)
        guard previous == "none" || safe(previous) != nil, safe(version) != nil || version == "invalid" else { return .other }
        return .named(RecordFile(deployment: deployment, previousVersion: previous == "none" ? nil : previous, version: version, result: result))
    }

    /// The same from a name's bytes.
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> RecordFile? {
        if case .named(let file) = kind(of: bytes) { return file }
        return nil
    }

    /// The deployment of a record whose name does not say enough (see `Kind.unnamed`).
    public static func unnamedDeployment(_ name: String) -> DeploymentID? {
        var name = name
        guard case .unnamed(let deployment) = name.withUTF8({ kind(of: $0) }) else { return nil }
        return deployment
    }

    /// The deployment id at the start of any record file name, old layout or new.
    public static func deployment(inName name: String) -> DeploymentID? {
        var name = name
        return name.withUTF8 { bytes in
            let stem = bytes.count > 3 && bytes[(bytes.count - 3)...].elementsEqual(".md".utf8) ? bytes[..<(bytes.count - 3)] : bytes[...]
            let id = UnsafeBufferPointer(rebasing: stem.prefix { $0 != UInt8(ascii: "_") })
            return DeploymentID(bytes: id)
        }
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

    static func isVersionByte(_ byte: UInt8) -> Bool {
        (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte) || "._+~-".utf8.contains(byte)
    }
}
