import Foundation
public import SlipwayGit
public import SlipwayManifest
import SlipwayRecords
import SlipwayHost
public import SlipwayCore

/// The record and status files Slipway committed for an environment, kept in its state
/// directory (`committed.json`): the last `kept` records and the status file, by blob id.
///
/// The branch is documentation of what ran; the state directory is what Slipway knows ran. Git
/// lets a person take a record off the branch without meaning to — a `rebase --abort` or
/// `reset --hard` past a record commit, a push from a clone that never had it, a commit made
/// from a stale index — so every pass puts back what is missing (README, "Working in the
/// daemon's clone"). Only blobs Slipway wrote itself are put back, never anything read from
/// the branch.
struct CommittedFiles: Codable, Equatable {
    struct File: Codable, Equatable {
        let path: String
        let blob: ObjectID
    }

    static let kept = 50

    var records: [File] = []
    var status: File?
}

extension StateDirectory {
    func committedFile(_ name: EnvironmentName) -> URL { environment(name).appendingPathComponent("committed.json") }

    func committedFiles(_ name: EnvironmentName) -> CommittedFiles? {
        guard let data = try? Data(contentsOf: committedFile(name)) else { return nil }
        return try? JSONDecoder().decode(CommittedFiles.self, from: data)
    }

    /// Notes a record and status about to be committed (before the commit: if it does not land
    /// now, the next pass commits exactly these blobs).
    func rememberCommitted(record: CommittedFiles.File?, status: CommittedFiles.File, of name: EnvironmentName) throws {
        var files = committedFiles(name) ?? CommittedFiles()
        // One blob per path: a record written again (its run's commit failed, a later pass
        // renders it anew) replaces the first, or putting both back would name one path twice.
        if let record, !files.records.contains(record) {
            files.records = Array((files.records.filter { $0.path != record.path } + [record]).suffix(CommittedFiles.kept))
        }
        files.status = status
        try FileManager.default.createDirectory(at: environment(name), withIntermediateDirectories: true)
        try JSONEncoder().encode(files).write(to: committedFile(name), options: .atomic)
    }
}

extension Engine {
    /// Puts back on the branch the records and status files Slipway committed that are no
    /// longer there (see `CommittedFiles`), in one commit; environments in `busy` are left to
    /// their run. Records moved to the archive branch by `slipway archive` stay there. Nil when
    /// nothing was missing.
    @discardableResult
    public func restoreCommittedFiles(skipping busy: Set<EnvironmentName> = []) async throws -> ObjectID? {
        let git = repository.git
        let tip = try await repository.tip()
        // The archive branch here, or (remote mode) as the daemon last fetched it.
        var archives: [ObjectID] = []
        for ref in [OpsRepository.archiveBranch, "refs/remotes/origin/" + OpsRepository.archiveBranch.dropFirst("refs/heads/".count)] {
            if let archive = try await git.resolve(ref: ref) { archives.append(archive) }
        }
        var changes: [TreeChange] = []
        var restored: [String] = []
        for name in configuration.state.knownEnvironments() where !busy.contains(name) {
            guard let files = configuration.state.committedFiles(name) else { continue }
            var records = 0
            // Only where the file can go back: something someone put in its way stays, and the
            // next run of the environment says so (`recordProblem`).
            for record in files.records where files.records.last(where: { $0.path == record.path }) == record {  // the newest per path
                let blob = record.blob
                guard try await repository.isFree(record.path, at: tip),
                      try await !archives.asyncContains(where: { try await git.blobID(at: record.path, in: $0) != nil }),
                      try await git.contains(blob) else { continue }
                changes.append(.place(record.path, blob))
                records += 1
            }
            var status = false
            // The status file of an environment whose manifest is gone may go too.
            if let file = files.status, case let blob = file.blob, file.path == name.statusPath,
               try await git.blobID(at: name.manifestPath, in: tip) != nil {
                let current = try await git.blobID(at: file.path, in: tip)
                let placeable = try await current != nil ? true : repository.isFree(file.path, at: tip)
                if current != blob, placeable, try await git.contains(blob) {
                    changes.append(.place(file.path, blob))
                    status = true
                }
            }
            if records > 0 || status {
                restored.append("\(name): " + [records > 0 ? "\(records) record(s)" : nil, status ? name.statusPath : nil].compactMap { $0 }.joined(separator: " and "))
            }
        }
        guard !changes.isEmpty else { return nil }
        let message = """
            records: put back what left the branch

            \(restored.joined(separator: "\n"))

            They are Slipway's own files, committed before; git took them off the branch (a
            reset, a rebase --abort, a push from a clone without them). Use slipway archive to
            move records away.

            """
        configuration.logger.warning("putting back records and status files that left the branch", metadata: ["what": "\(restored.joined(separator: "; "))"])
        return try await git.commit(changes: changes, message: message, author: configuration.author, onto: repository.branch)
    }
}
