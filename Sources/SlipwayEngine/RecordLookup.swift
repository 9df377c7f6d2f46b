public import SlipwayManifest
import Foundation
import SlipwayGit
import SlipwayRecords
public import SlipwayCore

/// A record file found by its deployment id.
public struct FoundRecord: Sendable {
    public let environment: String
    public let path: String
    public let text: String
    public let source: HistoryEntry.Source
}

extension OpsRepository {
    /// The records of deployment `id` (one per environment that used the id): looked up in its
    /// day folder at the tip (then anywhere under the environment's folder, for a record moved
    /// by hand), then in the archive branch the same way, then — for a record whose file is
    /// gone — in the record commit that wrote it. Records larger than 256 KiB are not read.
    public func records(withID id: DeploymentID, in environment: EnvironmentName? = nil) async throws -> [FoundRecord] {
        let day = id.dayFolder
        for (ref, source) in [(branch, HistoryEntry.Source.tip), (Self.archiveBranch, .archive)] {
            guard let commit = try await git.resolve(ref: ref) else { continue }
            var found: [FoundRecord] = []
            let environments = if let environment { [environment] } else { try await recordFolders(at: commit) }
            for name in environments {
                let root = "\(RecordFile.root)/\(name)"
                // This layout's day folder, and the month folder of records written before it (YYYY/MM).
                var files: [(path: String, blob: ObjectID)] = []
                for folder in ["\(root)/\(day)", "\(root)/\(day.prefix(7).replacingOccurrences(of: "-", with: "/"))"] {
                    for entry in try await git.listDirectory(folder, at: commit) ?? [] where entry.isBlob && RecordFile.deployment(inName: entry.name) == id {
                        files.append(("\(folder)/\(entry.name)", entry.id))
                    }
                }
                if files.isEmpty {
                    files = try await (git.files(under: root, at: commit) ?? [])
                        .filter { RecordFile.deployment(inName: $0.name) == id }.map { ("\(root)/\($0.path)", $0.id) }
                }
                for file in files {
                    guard let data = try await git.readBlob(file.blob, maximumBytes: FrontMatter.maximumBytes) else { continue }
                    found.append(FoundRecord(environment: name.rawValue, path: file.path, text: String(decoding: data, as: UTF8.self), source: source))
                }
            }
            if !found.isEmpty { return found }
        }
        return try await recordsFromCommits(withID: id, in: environment)
    }

    /// Records of `id` whose file is gone: read from the record commits that wrote them.
    private func recordsFromCommits(withID id: DeploymentID, in environment: EnvironmentName?) async throws -> [FoundRecord] {
        var commits: [(commit: ObjectID, environment: String, path: String)] = []
        try await git.walk(from: try await tip(), containing: "\(Trailers.deployment): \(id)") { commit in
            let message = String(decoding: commit.message, as: UTF8.self)
            let trailers = Trailers.parse(message)
            guard trailers[Trailers.deployment] == id.rawValue, let env = trailers[Trailers.environment].flatMap({ EnvironmentName($0) }),
                  environment.map({ $0 == env }) ?? true, let path = Trailers.recordPath(in: message),
                  path.hasPrefix("\(RecordFile.root)/\(env)/") else { return true }
            commits.append((commit.id, env.rawValue, path))
            return true
        }
        var found: [FoundRecord] = []
        for (commit, env, path) in commits {
            guard let blob = try await git.blobID(at: path, in: commit),
                  let data = try await git.readBlob(blob, maximumBytes: FrontMatter.maximumBytes) else { continue }
            found.append(FoundRecord(environment: env, path: path, text: String(decoding: data, as: UTF8.self), source: .log))
        }
        return found
    }
}
