public import SlipwayCore

/// `target: { kind: ssh, … }`: the machines an environment's instances run on, reached with
/// the OpenSSH client (README, "Many machines").
public struct SSHFleet: Sendable, Hashable, Codable {
    /// Hosts by group, in the order written; a plain list is the one group `all`.
    public var groups: [HostGroup]
    /// The login name; nil: whatever the user's ssh configuration says.
    public var user: String?
    public var port: Int?
    /// Hosts started at once in a rolling update.
    public var bootLimit: Share
    /// The pause between two batches of hosts.
    public var bootWait: TimeSpan
    /// Hosts that must be healthy for a run to start or go on.
    public var minHealthyHosts: Share
    /// Where instances and their registry live on each host: relative to the login's home
    /// directory unless absolute.
    public var stateDirectory: String

    public var hosts: [String] { groups.flatMap(\.hosts) }
}

public struct HostGroup: Sendable, Hashable, Codable {
    public var name: String
    public var hosts: [String]
}

/// A count of hosts, or a percentage of the fleet (`2`, `25%`).
public struct Share: Sendable, Hashable, TextCodable {
    public let value: Int
    public let isPercentage: Bool

    public static func count(_ value: Int) -> Share { Share(value: value, isPercentage: false) }
    public static func percent(_ value: Int) -> Share { Share(value: value, isPercentage: true) }

    init(value: Int, isPercentage: Bool) {
        (self.value, self.isPercentage) = (value, isPercentage)
    }

    public init?(text: String) {
        if text.hasSuffix("%"), let value = Int(text.dropLast()), (1...100).contains(value) {
            self.init(value: value, isPercentage: true)
        } else if let value = Int(text), value >= 1 {
            self.init(value: value, isPercentage: false)
        } else {
            return nil
        }
    }

    public var description: String { isPercentage ? "\(value)%" : "\(value)" }

    /// How many of `total` hosts: a percentage rounds up (25% of 10 is 3), never below one or above `total`.
    public func of(_ total: Int) -> Int {
        isPercentage ? max(1, min(total, (total * value + 99) / 100)) : min(value, total)
    }
}

/// `run.artifact`: a file in the ops repo (as committed, never the working tree) or under
/// Slipway's state directory (`state:NAME`, from `<state>/artifacts/NAME`), and its sha256,
/// which is what makes it safe to run: the signed manifest names the content.
public struct Artifact: Sendable, Hashable, Codable {
    public let file: String
    public let sha256: String

    public init(file: String, sha256: String) { (self.file, self.sha256) = (file, sha256) }

    /// `state:NAME` names a file of the state directory's `artifacts/` folder.
    public var stateName: String? { file.hasPrefix("state:") ? String(file.dropFirst(6)) : nil }

    /// A path in the ops repo without `..`, or `state:NAME` with a plain name not starting with `.`.
    static func isValid(file: String) -> Bool {
        guard let name = Artifact(file: file, sha256: "").stateName else { return Rules.isSafeDirectory(file) && !file.hasPrefix("/") }
        return Rules.isName(name) && !name.hasPrefix(".")
    }
}
