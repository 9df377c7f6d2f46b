public import Foundation
public import SlipwayGit
public import SlipwayManifest
public import SlipwayRecords
public import SlipwayCore

/// What this machine knows it deployed, kept in its state directory: the status of each
/// environment as Slipway last committed it, and every manifest it deployed.
///
/// `Status/<env>.md` in the ops repo says the same for people, but anyone who can push can
/// edit it; Slipway decides from its own copy (what runs, what failed, what a rollback or a
/// revert goes back to, which upstream validation still holds). The repository's file is read
/// only when this machine has none yet and the repository names no signers.
extension StateDirectory {
    func statusFile(_ name: EnvironmentName) -> URL { environment(name).appendingPathComponent("status.json") }
    func deployedFile(_ name: EnvironmentName) -> URL { environment(name).appendingPathComponent("deployed.jsonl") }

    /// The status Slipway last committed for `name`, nil when it committed none on this machine.
    public func savedStatus(_ name: EnvironmentName) -> EnvironmentStatus? {
        guard let data = try? Data(contentsOf: statusFile(name)) else { return nil }
        return try? JSONDecoder().decode(EnvironmentStatus.self, from: data)
    }

    /// Keeps the status just committed (and, when it runs a version this machine did not have
    /// in its list yet, that manifest, for rollbacks).
    func save(_ status: EnvironmentStatus) throws {
        let name = status.environment
        try FileManager.default.createDirectory(at: environment(name), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(status).write(to: statusFile(name), options: .atomic)
        if let manifest = status.manifest, let version = status.version, deployedManifests(name).last?.manifest != manifest {
            let entry = DeployedManifest(manifest: manifest, version: version, commit: status.commit, deployment: status.lastDeployment)
            Self.append(line: String(decoding: try encoder.encode(entry), as: UTF8.self), to: deployedFile(name))
        }
    }

    /// Every manifest this machine deployed to `name` and ran, oldest first.
    public func deployedManifests(_ name: EnvironmentName) -> [DeployedManifest] {
        guard let text = try? String(contentsOf: deployedFile(name), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(DeployedManifest.self, from: Data($0.utf8)) }
    }
}

/// A manifest that ran in an environment, as this machine deployed it.
public struct DeployedManifest: Codable, Sendable, Equatable {
    /// The manifest blob, the version it names, the commit it came from, the deployment.
    public let manifest: ObjectID
    public let version: String
    public let commit: ObjectID?
    public let deployment: DeploymentID
}

extension DeployedManifest {
    private enum CodingKeys: String, CodingKey { case manifest, version, commit, deployment }

    /// Lists written before ids were typed hold `""` for an unknown commit.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(manifest: try container.decode(ObjectID.self, forKey: .manifest), version: try container.decode(String.self, forKey: .version),
                  commit: try? container.decodeIfPresent(ObjectID.self, forKey: .commit),
                  deployment: try container.decode(DeploymentID.self, forKey: .deployment))
    }
}

extension OpsRepository {
    /// What is deployed in `name` as far as Slipway may rely on it: this machine's own copy of
    /// the status, or — when it has none — `Status/<env>.md` at `commit` while the repository
    /// names no signers (a fresh machine under `Trust/` starts as if nothing were deployed).
    public func deployedStatus(of name: EnvironmentName, at commit: ObjectID, state: StateDirectory) async throws -> EnvironmentStatus? {
        if let saved = state.savedStatus(name) { return saved }
        guard try await TrustCheck.isOpen(repository: self, state: state, at: commit) else { return nil }
        return try await status(of: name, at: commit)
    }
}
