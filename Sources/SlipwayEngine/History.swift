public import Foundation
public import SlipwayManifest
import SlipwayGit
import SlipwayRecords

/// One deployment as `slipway history` lists it. Holds what a record's name and folder say;
/// the trigger, the date and the record's path are derived when asked (history holds 100,000).
public struct HistoryEntry: Sendable, Equatable, Encodable {
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
    public let source: Source
    /// The record commit, when history read commits to find it (`source` `log`).
    public let commit: String?
    /// The record's folder (shared by the records of one day), and its file name when the
    /// fields above do not give it back exactly.
    let folder: String?
    let name: String?
    /// The full trigger, when history read the record or its commit.
    let fullTrigger: String?

    /// The manifest commit that asked for it: the short id its record's name carries, the
    /// full id when history read the record or its commit.
    public var trigger: String { fullTrigger ?? RecordFile.trigger(inDeployment: deployment) }
    /// The record's path, nil when only its commit was found.
    public var record: String? {
        folder.map { folder in
            folder + (name ?? RecordFile(deployment: deployment, previousVersion: previousVersion == "none" ? nil : previousVersion,
                                         version: version, result: DeploymentResult(rawValue: result) ?? .failed).name)
        }
    }
    /// When the deployment started.
    public var date: Date { Timestamp.parseCompact(deployment) ?? Date(timeIntervalSince1970: 0) }

    private enum Key: String, CodingKey { case deployment, environment, service, version, previousVersion, result, trigger, record, commit, date, source }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(deployment, forKey: .deployment)
        try container.encode(environment, forKey: .environment)
        try container.encode(service, forKey: .service)
        try container.encode(version, forKey: .version)
        try container.encode(previousVersion, forKey: .previousVersion)
        try container.encode(result, forKey: .result)
        try container.encode(trigger, forKey: .trigger)
        try container.encodeIfPresent(record, forKey: .record)
        try container.encodeIfPresent(commit, forKey: .commit)
        try container.encode(date, forKey: .date)
        try container.encode(source, forKey: .source)
    }
}

extension OpsRepository {
    /// Where `slipway archive` moves old records; `history --all` reads it.
    public static let archiveBranch = "refs/heads/slipway-archive"

    /// Deployments newest first, optionally of one environment, read from the record files in
    /// the tip's tree: their names carry what history shows, so it costs a tree walk however
    /// long the history is. With `all`, also the records archived by `slipway archive` and
    /// the record commits whose file is gone from both (read from commit trailers).
    public func history(of environment: EnvironmentName? = nil, limit: Int? = nil, all: Bool = false) async throws -> [HistoryEntry] {
        guard let tip = try await git.resolve(ref: branch) else { return [] }
        var entries = try await records(at: tip, of: environment, last: all ? nil : limit, source: .tip)
        if all {
            if let archive = try await git.resolve(ref: Self.archiveBranch) {
                entries += try await records(at: archive, of: environment, last: nil, source: .archive)
            }
            entries += try await recordCommits(from: tip, of: environment, except: Set(entries.map(\.key)))
        }
        let newestFirst = { (a: HistoryEntry, b: HistoryEntry) in a.deployment != b.deployment ? a.deployment > b.deployment : a.environment < b.environment }
        // One environment's records come newest first from its tree already; sorting 10,000 of
        // them anyway was a tenth of the run.
        if zip(entries, entries.dropFirst()).contains(where: { !newestFirst($0, $1) && $0 != $1 }) { entries.sort(by: newestFirst) }
        if let limit, entries.count > limit { entries.removeLast(entries.count - limit) }
        return entries
    }

    /// The record files under `Deployments/` at `commit`, each environment's newest first.
    func records(at commit: ObjectID, of environment: EnvironmentName?, last: Int?, source: HistoryEntry.Source) async throws -> [HistoryEntry] {
        let environments = if let environment { [environment] } else { try await recordFolders(at: commit) }
        var entries: [HistoryEntry] = []
        for name in environments {
            let root = "\(RecordFile.root)/\(name)"
            guard let newest = try await git.files(under: root, at: commit, last: 1)?.first else { continue }
            let service = try await recordFields(newest.id)["service"] ?? ""
            let env = name.rawValue
            var count = 0
            var folder = (relative: "", path: root + "/")  // the records of a day share one path string
            var unnamed: [(folder: String, name: String, id: ObjectID)] = []
            _ = try await git.visitFiles(under: root, at: commit, reversed: true) { file in
                if file.folder != folder.relative { folder = (file.folder, root + "/" + file.folder) }
                if let parsed = RecordFile.parse(file.name) {
                    // The name is derived from the fields when they give it back exactly (a safe version always does).
                    let exact = RecordFile.safe(parsed.version) != nil && parsed.previousVersion.map { RecordFile.safe($0) != nil } ?? true
                    entries.append(HistoryEntry(deployment: parsed.deployment, environment: env, service: service, version: parsed.version,
                                                previousVersion: parsed.previousVersion ?? "none", result: parsed.result.rawValue, source: source,
                                                commit: nil, folder: folder.path, name: exact ? nil : String(decoding: file.name, as: UTF8.self),
                                                fullTrigger: nil))
                } else {
                    unnamed.append((folder.path, String(decoding: file.name, as: UTF8.self), file.id))
                }
                count += 1
                return last.map { count < $0 } ?? true
            }
            for file in unnamed {
                if let entry = try await entry(readingRecord: file.id, folder: file.folder, name: file.name, environment: env, service: service, source: source) {
                    entries.append(entry)
                }
            }
        }
        return entries
    }

    /// Environments that have a folder under `Deployments/` at `commit`.
    func recordFolders(at commit: ObjectID) async throws -> [EnvironmentName] {
        try await (git.listDirectory(RecordFile.root, at: commit) ?? []).filter { !$0.isBlob }.compactMap { EnvironmentName($0.name) }
    }

    /// A history entry read from the record itself, for a name that does not say enough
    /// (written before names carried versions and result, or a version with `_`).
    private func entry(readingRecord blob: ObjectID, folder: String, name: String, environment: String, service: String,
                       source: HistoryEntry.Source) async throws -> HistoryEntry? {
        guard let deployment = RecordFile.deployment(inName: name) else { return nil }
        let fields = try await recordFields(blob)
        return HistoryEntry(deployment: deployment, environment: environment, service: fields["service"] ?? service,
                            version: fields["version"] ?? "?", previousVersion: fields["previousVersion"] ?? "none",
                            result: fields["result"] ?? "?", source: source, commit: nil, folder: folder, name: name,
                            fullTrigger: fields["trigger"])
    }

    private func recordFields(_ blob: ObjectID) async throws -> [String: String] {
        FrontMatter.scalars(["service", "version", "previousVersion", "result", "trigger"], in: try await git.readBlob(blob))
    }

    /// Record commits on the branch (first parents) whose deployment is not in `known`, from
    /// their trailers: records deleted from the tree, or written before records had files.
    private func recordCommits(from tip: ObjectID, of environment: EnvironmentName?, except known: Set<String>) async throws -> [HistoryEntry] {
        var entries: [HistoryEntry] = []
        try await git.walk(from: tip, containing: "\(Trailers.result):") { commit in
            let trailers = Trailers.parse(commit.message)
            guard let deployment = trailers[Trailers.deployment], let env = trailers[Trailers.environment],
                  environment.map({ $0.rawValue == env }) ?? true, !known.contains("\(env) \(deployment)") else { return true }
            let record = Trailers.recordPath(in: String(decoding: commit.message, as: UTF8.self))
            entries.append(HistoryEntry(
                deployment: deployment, environment: env, service: trailers[Trailers.service] ?? "", version: trailers[Trailers.version] ?? "",
                previousVersion: trailers[Trailers.previousVersion] ?? "none", result: trailers[Trailers.result] ?? "", source: .log,
                commit: commit.id.hex, folder: record == nil ? nil : "", name: record, fullTrigger: trailers[Trailers.trigger]))
            return true
        }
        return entries
    }
}

extension HistoryEntry {
    /// Identifies a deployment across sources (ids are unique per environment).
    var key: String { "\(environment) \(deployment)" }
}
