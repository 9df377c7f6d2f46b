public import Foundation
public import SlipwayManifest
import SlipwayGit
import SlipwayRecords
public import SlipwayCore

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

    public let deployment: DeploymentID
    public let environment: String
    public let service: String
    public let version: String
    /// `none` for a first deployment.
    public let previousVersion: String
    /// Nil when a record found by its commit or front matter names no known result.
    public let result: DeploymentResult?
    public let source: Source
    /// The record commit, when history read commits to find it (`source` `log`).
    public let commit: String?
    /// The record's folder (shared by the records of one day), and its file name when the
    /// fields above do not give it back (a record read from its front matter).
    let folder: String?
    let name: String?
    /// The full trigger, when history read the record or its commit.
    let fullTrigger: String?

    /// The manifest commit that asked for it: the short id its record's name carries, the
    /// full id when history read the record or its commit.
    public var trigger: String { fullTrigger ?? deployment.trigger }
    /// The record's path, nil when only its commit was found.
    public var record: String? {
        folder.map { folder in
            folder + (name ?? RecordFile(deployment: deployment, previousVersion: previousVersion == "none" ? nil : previousVersion,
                                         version: version, result: result ?? .failed).name)
        }
    }
    /// When the deployment started.
    public var date: Date { deployment.started ?? Date(timeIntervalSince1970: 0) }

    private enum Key: String, CodingKey { case deployment, environment, service, version, previousVersion, result, trigger, record, commit, date, source }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(deployment, forKey: .deployment)
        try container.encode(environment, forKey: .environment)
        try container.encode(service, forKey: .service)
        try container.encode(version, forKey: .version)
        // Absent for a first deployment, as in the record and the notifications (`none` is how names and text say it).
        try container.encodeIfPresent(previousVersion == "none" ? nil : previousVersion, forKey: .previousVersion)
        try container.encode(result?.rawValue ?? "?", forKey: .result)
        try container.encode(trigger, forKey: .trigger)
        try container.encodeIfPresent(record, forKey: .record)
        try container.encodeIfPresent(commit, forKey: .commit)
        try container.encode(Timestamp.isoMilliseconds(date), forKey: .date)
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
                let atTip = Set(entries.map(\.key))  // an archive stopped between its two commits has both
                entries += try await records(at: archive, of: environment, last: nil, source: .archive).filter { !atTip.contains($0.key) }
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

    /// The record files under `Deployments/` at `commit`, each environment's newest first. With
    /// `last`, about that many of each environment's newest (the day folder where the count was
    /// reached is read to its end, so that sorting it puts its records in order).
    func records(at commit: ObjectID, of environment: EnvironmentName?, last: Int?, source: HistoryEntry.Source) async throws -> [HistoryEntry] {
        let environments = if let environment { [environment] } else { try await recordFolders(at: commit) }
        var entries: [HistoryEntry] = []
        for name in environments {
            let root = "\(RecordFile.root)/\(name)"
            let env = name.rawValue
            var found: [(folder: String, kind: RecordFile.Kind, unnamed: (id: ObjectID, name: String)?)] = []
            var fullAt: String?  // the folder in which `last` records were reached
            var newest: ObjectID?
            _ = try await git.visitFiles(under: root, at: commit, reversed: true) { file in
                if let fullAt, file.folder != fullAt { return false }
                let kind = RecordFile.kind(of: file.name)
                guard kind != .other else { return true }
                if newest == nil, case .named = kind { newest = file.id }
                // Only records read from their front matter need their blob id and real name.
                let unnamed: (ObjectID, String)? = if case .unnamed = kind { (file.id, String(decoding: file.name, as: UTF8.self)) } else { nil }
                found.append((file.folder, kind, unnamed))
                if let last, found.count >= last, fullAt == nil { fullAt = file.folder }
                return true
            }
            let service = try await newest.asyncMap { try await recordFields($0)["service"] } ?? nil
            var folder = (relative: "", path: root + "/")  // the records of a day share one path string
            for file in found {
                if file.folder != folder.relative { folder = (file.folder, root + "/" + file.folder) }
                switch file.kind {
                case .named(let record):
                    entries.append(HistoryEntry(deployment: record.deployment, environment: env, service: service ?? "", version: record.version,
                                                previousVersion: record.previousVersion ?? "none", result: record.result, source: source,
                                                commit: nil, folder: folder.path, name: nil, fullTrigger: nil))
                case .unnamed(let deployment):
                    if let unnamed = file.unnamed, let entry = try await entry(readingRecord: unnamed.id, deployment: deployment, folder: folder.path,
                                                                              name: unnamed.name, environment: env, service: service ?? "", source: source) {
                        entries.append(entry)
                    }
                case .other:
                    continue
                }
            }
        }
        return entries
    }

    /// Environments that have a folder under `Deployments/` at `commit`.
    func recordFolders(at commit: ObjectID) async throws -> [EnvironmentName] {
        try await (git.listDirectory(RecordFile.root, at: commit) ?? []).filter { !$0.isBlob }.compactMap { EnvironmentName($0.name) }
    }

    /// A history entry read from the record's front matter, for a name that does not say enough.
    /// What it says is someone's text: versions and result that are not of their shape show as `?`.
    private func entry(readingRecord blob: ObjectID, deployment: DeploymentID, folder: String, name: String, environment: String, service: String,
                       source: HistoryEntry.Source) async throws -> HistoryEntry? {
        let fields = try await recordFields(blob)
        return HistoryEntry(deployment: deployment, environment: environment, service: fields["service"].map(Self.printable) ?? service,
                            version: RecordFile.safe(fields["version"]) ?? "?",
                            previousVersion: fields["previousVersion"] == "none" ? "none" : RecordFile.safe(fields["previousVersion"]) ?? "?",
                            result: fields["result"].flatMap(DeploymentResult.init), source: source, commit: nil,
                            folder: folder, name: name, fullTrigger: fields["trigger"].flatMap { ObjectID(hex: $0)?.hex })
    }

    /// A few top-level fields of a record of at most 256 KiB; none for anything else.
    private func recordFields(_ blob: ObjectID) async throws -> [String: String] {
        guard let data = try await git.readBlob(blob, maximumBytes: FrontMatter.maximumBytes) else { return [:] }
        return FrontMatter.scalars(["service", "version", "previousVersion", "result", "trigger"], in: data)
    }

    /// Text someone else wrote, fit to print on one line: control characters become `?`.
    static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.prefix(200).map { $0.properties.generalCategory == .control ? "?" : $0 }))
    }

    /// Record commits on the branch (first parents) whose deployment is not in `known`, from
    /// their trailers: records deleted from the tree, or written before records had files.
    private func recordCommits(from tip: ObjectID, of environment: EnvironmentName?, except known: Set<String>) async throws -> [HistoryEntry] {
        var entries: [HistoryEntry] = []
        var known = known
        try await git.walk(from: tip, containing: "\(Trailers.result):") { commit in
            // Anyone can write these trailers: each field must have the shape Slipway gives it.
            let trailers = Trailers.parse(commit.message)
            guard let deployment = trailers[Trailers.deployment].flatMap({ DeploymentID($0) }),
                  let env = trailers[Trailers.environment].flatMap({ EnvironmentName($0) }), environment.map({ $0 == env }) ?? true,
                  let result = trailers[Trailers.result].flatMap(DeploymentResult.init), known.insert("\(env) \(deployment)").inserted
            else { return true }
            let record = Trailers.recordPath(in: String(decoding: commit.message, as: UTF8.self))
                .flatMap { $0.hasPrefix("\(RecordFile.root)/\(env)/") && !$0.contains("/../") ? Self.printable($0) : nil }
            let previous = trailers[Trailers.previousVersion]
            entries.append(HistoryEntry(
                deployment: deployment, environment: env.rawValue, service: trailers[Trailers.service].map(Self.printable) ?? "",
                version: RecordFile.safe(trailers[Trailers.version]) ?? "?", previousVersion: previous == "none" ? "none" : RecordFile.safe(previous) ?? "?",
                result: result, source: .log, commit: commit.id.hex, folder: record == nil ? nil : "", name: record,
                fullTrigger: trailers[Trailers.trigger].flatMap { ObjectID(hex: $0)?.hex }))
            return true
        }
        return entries
    }
}

extension HistoryEntry {
    /// Identifies a deployment across sources (ids are unique per environment).
    var key: String { "\(environment) \(deployment)" }
}
