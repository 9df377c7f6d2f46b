public import SlipwayGit
public import SlipwayManifest
import Foundation
import SlipwayRecords

/// A rollback commit made by `slipway rollback`.
public struct RollbackCommit: Sendable {
    public let commit: ObjectID
    public let fromVersion: String
    public let toVersion: String
    /// The manifest commit whose change is undone (nil with `--to`).
    public let reverts: ObjectID?
}

extension OpsRepository {
    /// Commits `Environments/<env>.yaml` back to the manifest before its last change, or to the
    /// newest manifest in history whose version is `version`. The next reconcile deploys it and
    /// records it as `rolled-back`.
    public func rollBack(_ name: EnvironmentName, to version: String?, by author: Signature) async throws -> RollbackCommit {
        let tip = try await tip()
        guard let current = try await git.blobID(at: name.manifestPath, in: tip) else {
            throw EngineError("no \(name.manifestPath) at the tip")
        }
        let currentVersion = (try? ManifestParser.parse(try await git.readBlob(current), path: name.manifestPath))?.version ?? "?"
        let target: (blob: ObjectID, reverts: ObjectID?)
        if let version {
            guard let found = try await manifestHistory(name, from: tip).first(where: { $0.version == version && $0.blob != current }) else {
                throw EngineError("no earlier \(name.manifestPath) with version \(version) in the history of \(branch)")
            }
            target = (found.blob, nil)
        } else {
            let introduced = try await git.introducingCommit(of: name.manifestPath, blob: current, from: tip)
            guard let parent = try await git.commitInfo(introduced).parents.first,
                  let previous = try await git.blobID(at: name.manifestPath, in: parent) else {
                throw EngineError("\(name.manifestPath) has no earlier version to roll back to")
            }
            target = (previous, introduced)
        }
        let content = try await git.readBlob(target.blob)
        let toVersion = (try? ManifestParser.parse(content, path: name.manifestPath))?.version ?? "?"
        var lines = ["rollback(\(name)): \(currentVersion) → \(toVersion)", ""]
        if let reverts = target.reverts { lines += ["This reverts commit \(reverts.hex).", ""] }
        lines += ["\(Trailers.rollback): \(name)", "\(Trailers.version): \(toVersion)"]
        if let reverts = target.reverts { lines.append("\(Trailers.reverts): \(reverts.hex)") }
        let commit = try await git.commit([FileUpdate(path: name.manifestPath, content: content)],
                                          message: lines.joined(separator: "\n") + "\n", author: author, onto: branch)
        return RollbackCommit(commit: commit, fromVersion: currentVersion, toVersion: toVersion, reverts: target.reverts)
    }

    /// Each distinct manifest of an environment in first-parent history, newest first (10,000 commits at most).
    func manifestHistory(_ name: EnvironmentName, from tip: ObjectID) async throws -> [(blob: ObjectID, version: String)] {
        var ids: [ObjectID] = []
        try await git.walk(from: tip, containing: "") { commit in
            ids.append(commit.id)
            return ids.count < 10_000
        }
        var seen: Set<ObjectID> = []
        var result: [(ObjectID, String)] = []
        for id in ids {
            guard let blob = try await git.blobID(at: name.manifestPath, in: id), seen.insert(blob).inserted,
                  let manifest = try? ManifestParser.parse(try await git.readBlob(blob), path: name.manifestPath) else { continue }
            result.append((blob, manifest.version))
        }
        return result
    }
}

extension CommitInfo {
    /// A rollback: made by `slipway rollback`, or a `git revert` of a manifest change.
    var isRollback: Bool {
        message.contains("\(Trailers.rollback):") || message.contains("This reverts commit ")
    }
}
