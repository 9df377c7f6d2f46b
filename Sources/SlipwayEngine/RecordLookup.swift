public import SlipwayManifest
import Foundation
import SlipwayGit
import SlipwayRecords

/// A record file found by its deployment id.
public struct FoundRecord: Sendable {
    public let environment: String
    public let path: String
    public let text: String
    public let source: HistoryEntry.Source
}

extension OpsRepository {
    /// The records of deployment `id` (one per environment that used the id): looked up in its
    /// day folder at the tip, then in the archive branch, then — for a record whose file is
    /// gone — in the record commit that wrote it.
    public func records(withID id: String, in environment: EnvironmentName? = nil) async throws -> [FoundRecord] {
        guard let day = RecordFile.dayFolder(of: id) else { return [] }
        let tip = try await tip()
        var found: [FoundRecord] = []
        for (ref, source) in [(branch, HistoryEntry.Source.tip), (Self.archiveBranch, .archive)] {
            guard let commit = try await git.resolve(ref: ref) else { continue }
            let environments = if let environment { [environment] } else { try await recordFolders(at: commit) }
            for name in environments {
                // This layout's day folder, and the month folder of records written before it (YYYY/MM).
                let legacy = day.prefix(7).replacingOccurrences(of: "-", with: "/")
                for folder in ["\(RecordFile.root)/\(name)/\(day)", "\(RecordFile.root)/\(name)/\(legacy)"] {
                    for entry in try await git.listDirectory(folder, at: commit) ?? [] where entry.isBlob && RecordFile.deployment(inName: entry.name) == id {
                        let text = String(decoding: try await git.readBlob(entry.id), as: UTF8.self)
                        found.append(FoundRecord(environment: name.rawValue, path: "\(folder)/\(entry.name)", text: text, source: source))
                    }
                }
            }
            if !found.isEmpty { return found }
        }
        var commits: [(ObjectID, String)] = []
        try await git.walk(from: tip, containing: "\(Trailers.deployment): \(id)") { commit in
            if let path = Trailers.recordPath(in: String(decoding: commit.message, as: UTF8.self)) { commits.append((commit.id, path)) }
            return true
        }
        for (commit, path) in commits {
            guard let data = try await git.readFile(path, at: commit) else { continue }
            let text = String(decoding: data, as: UTF8.self)
            let env = (try? FrontMatter.parseRecord(text))?.environment ?? ""
            if environment.map({ $0.rawValue == env }) ?? true {
                found.append(FoundRecord(environment: env, path: path, text: text, source: .log))
            }
        }
        return found
    }
}
