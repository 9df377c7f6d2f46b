public import Foundation
import SlipwayHost
public import SlipwayGit
public import SlipwayManifest
import SlipwayRecords
public import SlipwayCore

/// Keeps the record folders in the layout `RecordFile` describes: a record anywhere else under
/// its environment's folder (the month folders of earlier releases, `YYYY/MM/<deployment>.md`)
/// is moved where its id says it belongs, under a name that says what it holds; and
/// `slipway archive` moves old records to a branch of their own. Both move blobs as they are:
/// nothing a record says is rewritten.
extension OpsRepository {
    /// Moves for the records of `environment` that are not where the layout puts them; empty
    /// when all are. Reads the environment's folder and its month folders only, unless
    /// something there is out of place.
    func misplacedRecordMoves(of environment: EnvironmentName, at tip: ObjectID) async throws -> [TreeChange] {
        let root = "\(RecordFile.root)/\(environment)"
        var suspects: [String] = []  // folders or files to look into: every file below is checked
        for entry in try await git.listDirectory(root, at: tip) ?? [] {
            guard !entry.isBlob, RecordFile.isMonthFolder(entry.name) else {
                suspects.append("\(root)/\(entry.name)")
                continue
            }
            for day in try await git.listDirectory("\(root)/\(entry.name)", at: tip) ?? [] where day.isBlob || !RecordFile.isDayFolder(day.name) {
                suspects.append("\(root)/\(entry.name)/\(day.name)")
            }
        }
        var moves: [TreeChange] = []
        var targets: Set<String> = []
        for suspect in suspects {
            let files: [(path: String, name: String, blob: ObjectID)]
            if let blob = try await git.blobID(at: suspect, in: tip) {
                files = [(suspect, String(suspect.split(separator: "/").last ?? ""), blob)]
            } else {
                files = try await (git.files(under: suspect, at: tip) ?? []).map { ("\(suspect)/\($0.path)", $0.name, $0.id) }
            }
            for file in files {
                // Only onto a free path: a move never replaces a record, and two copies of one
                // record do not both move (the second stays where it is).
                guard let placed = try await placement(of: file.name, blob: file.blob, environment: environment), placed != file.path,
                      !targets.contains(placed), try await isFree(placed, at: tip) else { continue }
                targets.insert(placed)
                moves += [.remove(file.path), .place(placed, file.blob)]
            }
        }
        return moves
    }

    /// Where a record file belongs, from its name, or from its front matter for a name that
    /// does not say enough; nil for a file that is not a record.
    private func placement(of name: String, blob: ObjectID, environment: EnvironmentName) async throws -> String? {
        var name = name
        switch name.withUTF8({ RecordFile.kind(of: $0) }) {
        case .named(let file):
            return file.path(in: environment)
        case .unnamed(let deployment):
            guard let data = try await git.readBlob(blob, maximumBytes: FrontMatter.maximumBytes) else { return nil }
            let fields = FrontMatter.scalars(["version", "previousVersion", "result"], in: data)
            let file = RecordFile(deployment: deployment, previousVersion: fields["previousVersion"].flatMap { $0 == "none" ? nil : $0 },
                                  version: fields["version"] ?? "unknown", result: fields["result"].flatMap(DeploymentResult.init) ?? .failed)
            return file.path(in: environment)
        case .other:
            return nil
        }
    }

    /// Whether `path` can take a file: nothing is there, and every folder on the way is a
    /// folder or does not exist yet.
    func isFree(_ path: String, at tip: ObjectID) async throws -> Bool {
        let parts = path.split(separator: "/").map(String.init)
        for depth in 1..<parts.count where try await git.blobID(at: parts[..<depth].joined(separator: "/"), in: tip) != nil {
            return false
        }
        return try await git.entryID(at: path, in: tip) == nil
    }

    /// Why a record or status file of `environment` could not be committed at `tip` (a file,
    /// or a symbolic link, where Slipway needs a folder); nil when both can.
    public func recordProblem(_ environment: EnvironmentName, startedAt date: Date, at tip: ObjectID) async throws -> String? {
        let record = "\(RecordFile.root)/\(environment)/\(DeploymentID.dayFolder(of: date))"
        for folder in [record, "Status"] {
            let parts = folder.split(separator: "/").map(String.init)
            for depth in 1...parts.count {
                let prefix = parts[..<depth].joined(separator: "/")
                if try await git.blobID(at: prefix, in: tip) != nil {
                    return "\(prefix) is a file in the ops repo, where Slipway keeps a folder of records and status files: move it away"
                }
            }
        }
        if try await git.listDirectory(environment.statusPath, at: tip) != nil {
            return "\(environment.statusPath) is a folder in the ops repo, where Slipway writes the status file: move it away"
        }
        return nil
    }
}

extension Engine {
    /// Moves an environment's records that are not where the layout puts them (written by an
    /// earlier release, or moved by hand), in one commit of its own, before Slipway commits
    /// the next record there.
    func migrateRecords(of environment: EnvironmentName) async {
        let moves: [TreeChange]
        do {
            moves = try await repository.misplacedRecordMoves(of: environment, at: try await repository.tip())
        } catch {
            // Tidying the folders must never keep a record from being committed.
            configuration.logger.warning("records left where they are", metadata: ["env": "\(environment)", "error": "\(ErrorText.sentence(error))"])
            return
        }
        guard !moves.isEmpty else { return }
        let count = moves.count / 2
        let message = """
            records(\(environment)): move \(count) record(s) into day folders

            Records are Deployments/<env>/YYYY-MM/DD/<deployment>_<from>_<to>_<result>.md, so
            that slipway history reads them from the tree. Their content is unchanged.

            \(Trailers.environment): \(environment)

            """
        do {
            _ = try await repository.git.commit(changes: moves, message: message, author: configuration.author, onto: repository.branch)
            configuration.logger.notice("records moved into day folders", metadata: ["env": "\(environment)", "records": "\(count)"])
        } catch {
            configuration.logger.warning("records left where they are", metadata: ["env": "\(environment)", "error": "\(ErrorText.sentence(error))"])
        }
    }
}

/// What `slipway archive` did.
public struct ArchiveOutcome: Sendable {
    /// The records moved, by path.
    public let paths: [String]
    /// The commit on the archive branch that holds them, and the one that removed them from the branch.
    public let archiveCommit: ObjectID?
    public let branchCommit: ObjectID?
}

extension OpsRepository {
    /// Moves the records of deployments that started before `cutoff` from the branch's tree to
    /// `archiveBranch` (same paths), where `history --all` and `show` still find them: first a
    /// commit on the archive branch that adds them, then one on the tracked branch that
    /// removes them — each only while it still holds what was archived, so a record someone
    /// changed meanwhile stays. Archiving again what is archived already commits nothing.
    public func archive(before cutoff: Date, environments: [EnvironmentName], by author: Signature, dryRun: Bool = false) async throws -> ArchiveOutcome {
        let tip = try await tip()
        let names = environments.isEmpty ? try await recordFolders(at: tip) : environments
        var moved: [(path: String, blob: ObjectID)] = []
        for name in names {
            let folder = "\(RecordFile.root)/\(name)"
            for file in try await git.files(under: folder, at: tip) ?? [] {
                // Records only (notes and other files stay), by the time their id starts with.
                guard let id = RecordFile(name: file.name)?.deployment ?? RecordFile.unnamedDeployment(file.name),
                      let started = id.started, started < cutoff else { continue }
                moved.append(("\(folder)/\(file.path)", file.id))
            }
        }
        guard !moved.isEmpty, !dryRun else { return ArchiveOutcome(paths: moved.map(\.path), archiveCommit: nil, branchCommit: nil) }
        let day = String(Timestamp.iso(cutoff).prefix(10))
        let archiveCommit = try await git.commit(
            changes: moved.map { .place($0.path, $0.blob) },
            message: "archive: \(moved.count) record(s) of deployments before \(day) from \(branch.dropFirst("refs/heads/".count)) at \(tip.short)\n",
            author: author, onto: Self.archiveBranch)
        guard let archiveCommit else { throw EngineError("the archive branch could not be updated") }
        let branchCommit = try await git.commit(
            changes: moved.map { .removeIfUnchanged($0.path, $0.blob) },
            message: """
                archive: move \(moved.count) record(s) of deployments before \(day) to \(Self.archiveBranch.dropFirst("refs/heads/".count))

                slipway history --all and slipway show still read them there.

                Slipway-Archive: \(archiveCommit.hex)

                """,
            author: author, onto: branch)
        return ArchiveOutcome(paths: moved.map(\.path), archiveCommit: archiveCommit, branchCommit: branchCommit)
    }
}
