public import Foundation
public import SlipwayManifest
import SlipwayGit
import SlipwayRecords

/// One deployment as `slipway history` lists it.
public struct HistoryEntry: Sendable, Codable, Equatable {
    /// Where history found a deployment.
    public enum Source: String, Sendable, Codable {
        /// A record file at the tip of the branch.
        case tip
        /// A record moved to the archive branch by `slipway archive`.
        case archive
        /// Only the trailers of its record commit: the file is gone from both (`--all`).
        case log
    }

    public let deployment: String
    public let environment: String
    public let service: String
    public let version: String
    /// `none` for a first deployment.
    public let previousVersion: String
    public let result: String
    /// The manifest commit that asked for it: the short id its record's name carries, the
    /// full id when history read the record or its commit.
    public let trigger: String
    /// The record's path, nil when only its commit was found.
    public let record: String?
    /// The record commit, when history read commits to find it (`source` `log`).
    public let commit: String?
    /// When the deployment started.
    public let date: Date
    public let source: Source
}

extension OpsRepository {
    /// Where `slipway archive` moves old records; `history --all` reads it.
    public static let archiveBranch = "refs/heads/slipway-archive"

    /// Deployments newest first, optionally of one environment, read from the record files in
    /// the tip's tree: their names carry what history shows, so it costs a tree walk however
    /// long the history is. With `all`, also the records archived by `slipway archive` and
    /// the record commits whose file is gone from both (read from commit trailers).
    public func history(of environment: EnvironmentName? = nil, limit: Int? = nil, all: Bool = false) async throws -> [HistoryEntry] {
        var entries: [HistoryEntry] = []
        guard let tip = try await git.resolve(ref: branch) else { return [] }
        entries += try await records(at: tip, of: environment, last: all ? nil : limit, source: .tip)
        if all {
            if let archive = try await git.resolve(ref: Self.archiveBranch) {
                entries += try await records(at: archive, of: environment, last: nil, source: .archive)
            }
            entries += try await recordCommits(from: tip, of: environment, except: Set(entries.map(\.key)))
        }
        entries.sort { $0.deployment != $1.deployment ? $0.deployment > $1.deployment : $0.environment < $1.environment }
        return limit.map { Array(entries.prefix($0)) } ?? entries
    }

    /// The record files under `Deployments/` at `commit`, each environment's newest first.
    func records(at commit: ObjectID, of environment: EnvironmentName?, last: Int?, source: HistoryEntry.Source) async throws -> [HistoryEntry] {
        let environments = if let environment { [environment] } else { try await recordFolders(at: commit) }
        var entries: [HistoryEntry] = []
        for name in environments {
            let folder = "\(RecordFile.root)/\(name)"
            guard var files = try await git.files(under: folder, at: commit, last: last) else { continue }
            if last != nil { files.reverse() }  // back to tree order: oldest first
            guard let newest = files.last else { continue }
            let service = try await recordFields(newest.id)["service"] ?? ""
            for file in files.reversed() {
                let path = "\(folder)/\(file.path)"
                if let entry = try await entry(file, path: path, environment: name, service: service, source: source) { entries.append(entry) }
            }
        }
        return entries
    }

    /// Environments that have a folder under `Deployments/` at `commit`.
    func recordFolders(at commit: ObjectID) async throws -> [EnvironmentName] {
        try await (git.listDirectory(RecordFile.root, at: commit) ?? []).filter { !$0.isBlob }.compactMap { EnvironmentName($0.name) }
    }

    /// A history entry from a record's file name, or from the record itself when its name does
    /// not say enough (written before names carried versions and result).
    private func entry(_ file: TreeFile, path: String, environment: EnvironmentName, service: String,
                       source: HistoryEntry.Source) async throws -> HistoryEntry? {
        let name = String(file.path.split(separator: "/").last ?? "")
        if let parsed = RecordFile(name: name), let date = Timestamp.parseCompact(parsed.deployment) {
            return HistoryEntry(deployment: parsed.deployment, environment: environment.rawValue, service: service, version: parsed.version,
                                previousVersion: parsed.previousVersion ?? "none", result: parsed.result.rawValue,
                                trigger: Self.trigger(inDeployment: parsed.deployment), record: path, commit: nil, date: date, source: source)
        }
        guard let deployment = RecordFile.deployment(inName: name), let date = Timestamp.parseCompact(deployment) else { return nil }
        let fields = try await recordFields(file.id)
        return HistoryEntry(deployment: deployment, environment: environment.rawValue, service: fields["service"] ?? service,
                            version: fields["version"] ?? "?", previousVersion: fields["previousVersion"] ?? "none",
                            result: fields["result"] ?? "?", trigger: fields["trigger"] ?? Self.trigger(inDeployment: deployment),
                            record: path, commit: nil, date: date, source: source)
    }

    private func recordFields(_ blob: ObjectID) async throws -> [String: String] {
        FrontMatter.scalars(["service", "version", "previousVersion", "result", "trigger"], in: try await git.readBlob(blob))
    }

    /// `a1b2c3d` from `20261126T181500Z-a1b2c3d[-2]`.
    static func trigger(inDeployment id: String) -> String {
        String(id.split(separator: "-").dropFirst().first ?? "")
    }

    /// Record commits on the branch (first parents) whose deployment is not in `known`, from
    /// their trailers: records deleted from the tree, or written before records had files.
    private func recordCommits(from tip: ObjectID, of environment: EnvironmentName?, except known: Set<String>) async throws -> [HistoryEntry] {
        var entries: [HistoryEntry] = []
        try await git.walk(from: tip, containing: "\(Trailers.result):") { commit in
            let trailers = Trailers.parse(commit.message)
            guard let deployment = trailers[Trailers.deployment], let env = trailers[Trailers.environment],
                  environment.map({ $0.rawValue == env }) ?? true, !known.contains("\(env) \(deployment)") else { return true }
            let record = String(decoding: commit.message, as: UTF8.self).split(separator: "\n")
                .first { $0.hasPrefix("Record: ") }.map { String($0.dropFirst(8)) }
            entries.append(HistoryEntry(
                deployment: deployment, environment: env, service: trailers[Trailers.service] ?? "", version: trailers[Trailers.version] ?? "",
                previousVersion: trailers[Trailers.previousVersion] ?? "none", result: trailers[Trailers.result] ?? "",
                trigger: trailers[Trailers.trigger] ?? "", record: record, commit: commit.id.hex,
                date: Timestamp.parseCompact(deployment) ?? Date(timeIntervalSince1970: TimeInterval(commit.time)), source: .log))
            return true
        }
        return entries
    }
}

extension HistoryEntry {
    /// Identifies a deployment across sources (ids are unique per environment).
    var key: String { "\(environment) \(deployment)" }
}
