public import SlipwayGit
public import SlipwayManifest
import Foundation
import SlipwayRecords
public import SlipwayCore

/// A rollback commit made by `slipway rollback`.
public struct RollbackCommit: Sendable {
    public let commit: ObjectID
    public let fromVersion: String
    public let toVersion: String
    /// The manifest commit whose change is undone (nil with `--to`).
    public let reverts: ObjectID?
    /// Set when the manifest at the tip never ran here (it failed, waits or is held): the
    /// rollback put back what runs, not the version before it.
    public var putBackWhatRuns = false
}

extension OpsRepository {
    /// Commits `Environments/<env>.yaml` back to the last version before the desired one that
    /// ran in `name`, or to the newest that ran with `version`: from the manifests this machine
    /// deployed (`state`), so that a rollback restores only what Slipway ran. Without that list
    /// (a machine that deployed nothing yet) and while the repository names no signers, from
    /// first-parent history instead. The next reconcile deploys it as `rolled-back`.
    public func rollBack(_ name: EnvironmentName, to version: String?, by author: Signature, state: StateDirectory) async throws -> RollbackCommit {
        let tip = try await tip()
        guard let current = try await git.blobID(at: name.manifestPath, in: tip) else {
            throw EngineError("no \(name.manifestPath) at the tip")
        }
        let currentManifest = try? ManifestParser.parse(try await git.readBlob(current), path: name.manifestPath)
        let currentVersion = currentManifest?.version ?? "?"
        if let suspended = currentManifest?.suspended {
            throw EngineError("\(name) is suspended (\(suspended)): slipway resume \(name) first, so that a rollback does not end the pause unseen")
        }
        let target: (blob: ObjectID, reverts: ObjectID?)
        var putBackWhatRuns = false
        let deployed = state.deployedManifests(name).reversed().map { ($0.manifest, $0.version) }
        if !deployed.isEmpty {
            // Back from what runs: when the tip names something else (a change that failed or was
            // refused), the rollback puts back what runs; otherwise the version that ran before it.
            let running = state.savedStatus(name)
            let runningBlob = running?.manifest
            let runningVersion = running?.version ?? currentVersion
            let undoChange = version == nil && runningBlob != nil && runningBlob != current
            putBackWhatRuns = undoChange
            let wanted = version.map { wanted in { (entry: (ObjectID, String)) in entry.1 == wanted && entry.0 != current } }
                ?? { entry in undoChange ? entry.0 == runningBlob : entry.1 != runningVersion && entry.0 != current }
            guard let found = deployed.first(where: wanted) else {
                throw EngineError(version.map { "no earlier \(name.manifestPath) with version \($0) ran on this machine" }
                                  ?? "\(name) ran no version but \(currentVersion) on this machine")
            }
            // When it is the manifest before the last change, the rollback undoes that change: say so, as git revert would.
            let introduced = try await git.introducingCommit(of: name.manifestPath, blob: current, from: tip)
            let before = try await git.commitInfo(introduced).parents.first.asyncMap { try await git.blobID(at: name.manifestPath, in: $0) } ?? nil
            target = (found.0, before == found.0 ? introduced : nil)
        } else if try await TrustCheck.isOpen(repository: self, state: state, at: tip) {
            target = try await rollbackFromHistory(name, to: version, current: current, tip: tip)
        } else {
            throw EngineError("this machine deployed nothing to \(name) yet: under \(TrustCheck.folder)/ a rollback restores only a manifest Slipway ran here (git revert -S a release instead)")
        }
        let content = try await git.readBlob(target.blob)
        let toVersion = (try? ManifestParser.parse(content, path: name.manifestPath))?.version ?? "?"
        let message = CommitMessage.rollback(environment: name, from: currentVersion, to: toVersion, reverts: target.reverts)
        let commit = try await git.commit([FileUpdate(path: name.manifestPath, content: content)], message: message, author: author, onto: branch)
        return RollbackCommit(commit: commit, fromVersion: currentVersion, toVersion: toVersion, reverts: target.reverts, putBackWhatRuns: putBackWhatRuns)
    }

    /// The manifest before the last change of `name`, or the newest with `version`, from history.
    private func rollbackFromHistory(_ name: EnvironmentName, to version: String?, current: ObjectID, tip: ObjectID) async throws -> (blob: ObjectID, reverts: ObjectID?) {
        if let version {
            guard let found = try await manifestHistory(name, from: tip).first(where: { $0.version == version && $0.blob != current }) else {
                throw EngineError("no earlier \(name.manifestPath) with version \(version) in the history of \(branch)")
            }
            return (found.blob, nil)
        }
        let introduced = try await git.introducingCommit(of: name.manifestPath, blob: current, from: tip)
        guard let parent = try await git.commitInfo(introduced).parents.first,
              let previous = try await git.blobID(at: name.manifestPath, in: parent) else {
            throw EngineError("\(name.manifestPath) has no earlier version to roll back to")
        }
        return (previous, introduced)
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
