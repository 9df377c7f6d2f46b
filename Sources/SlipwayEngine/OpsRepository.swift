import Foundation
import SlipwayHost
public import SlipwayGit
public import SlipwayManifest
public import SlipwayRecords
public import SlipwayCore

/// The ops repo as Slipway reads it: desired state from `Environments/*.yaml` and deployed
/// state from `Status/<env>.md`, both at the tip of the tracked branch, through libgit2's
/// object database (so a bare repository works and uncommitted edits are never read).
public struct OpsRepository: Sendable {
    public let git: GitRepository
    /// Full ref name of the tracked branch (`refs/heads/main`).
    public let branch: String
    /// What was parsed already, by blob (shared by every copy of this value).
    let cache = ParseCache()

    public static let environmentsDirectory = "Environments"

    /// Opens the repository at `path`, tracking `branch` (short or full name) or the branch HEAD points at.
    public static func open(path: String, branch: String? = nil) async throws -> OpsRepository {
        let git = try GitRepository(path: path)
        let ref: String
        if let branch {
            ref = branch.hasPrefix("refs/") ? branch : "refs/heads/\(branch)"
        } else {
            ref = try await git.headBranch()
        }
        return OpsRepository(git: git, branch: ref)
    }

    /// The branch's current commit.
    public func tip() async throws -> ObjectID {
        guard let tip = try await git.resolve(ref: branch) else {
            throw EngineError("branch \(branch) has no commits yet: commit Environments/<env>.yaml first")
        }
        return tip
    }

    /// Desired state at `commit`: the validated manifests and their blob ids.
    /// - Parameter untrusted: manifest paths whose content does not count under `Trust/` (see `EnvironmentSet.parsing`).
    public func desired(at commit: ObjectID, untrusted: Set<String> = []) async throws -> DesiredState {
        guard let tree = try await git.treeID(at: Self.environmentsDirectory, in: commit) else { return try await desired(entries: [], untrusted: untrusted) }
        // A commit that left Environments/ as it was (a record commit) has the same desired state;
        // one that changed a few files starts from the last one (see `EnvironmentSet.updating`).
        let last = cache.lastDesired(untrusted: untrusted)
        if let last, last.tree == tree { return last.desired }
        let changes = try? await last.asyncMap { try await git.treeChanges(from: $0.tree, to: tree) }
        let desired = if let last, let changes, let updated = try await updated(last.desired, changes: changes, untrusted: untrusted) { updated }
            else { try await desired(entries: try await git.treeEntries(tree), untrusted: untrusted) }
        cache.keep(desired: desired, tree: tree, untrusted: untrusted)
        return desired
    }

    /// `previous` with the manifest files that differ between its tree and the next (`changes`,
    /// from `GitRepository.treeChanges`) applied, nil when the set must be checked whole.
    private func updated(_ previous: DesiredState, changes entries: [(name: String, old: ObjectID?, new: ObjectID?)],
                         untrusted: Set<String>) async throws -> DesiredState? {
        // The cache is emptied of other trees' manifests by a whole check: one is due once they are a quarter of the tip's.
        guard cache.manifestCount <= previous.files.count + max(16, previous.files.count / 4) else { return nil }
        var files = previous.files, blobs = previous.blobs
        let changed = entries.filter { EnvironmentSet.isRead($0.name) }.map { (path: "\(Self.environmentsDirectory)/\($0.name)", old: $0.old, new: $0.new) }
        guard changed.count <= 16 else { return nil }  // more than a few: the whole check costs less than many updates
        var changes: [(old: ParsedManifest?, new: ParsedManifest?)] = []
        for change in changed {
            let old = change.old.flatMap { cache.manifest(ParseCache.Key(path: change.path, blob: $0)) }
            guard old != nil || change.old == nil else { return nil }  // the old parse is no longer kept
            let new = try await change.new.asyncMap { blob in try await parsed(ParseCache.Key(path: change.path, blob: blob)) }
            changes.append((old, new))
            files[change.path] = change.new
            if let name = (old ?? new)?.name ?? EnvironmentName(manifestPath: change.path) { blobs[name] = new?.manifest == nil ? nil : change.new }
        }
        guard let set = previous.environments.updating(changes, untrusted: untrusted) else { return nil }
        return DesiredState(environments: set, blobs: blobs, files: files)
    }

    /// One manifest file, parsed once per blob (kept with the tip's manifests).
    private func parsed(_ key: ParseCache.Key) async throws -> ParsedManifest {
        if let known = cache.manifests([key]).first ?? nil { return known }
        let parsed = EnvironmentSet.parse(ManifestFile(path: key.path, data: try await manifestData(key)))
        cache.add(manifest: parsed, for: key)
        return parsed
    }

    /// A manifest file's content, read only up to the parser's limit: what is larger is refused
    /// by its size alone. A file that names no environment is not read.
    private func manifestData(_ key: ParseCache.Key) async throws -> Data {
        guard EnvironmentSet.environmentName(forFile: String(key.path.dropFirst(Self.environmentsDirectory.count + 1))) != nil else { return Data() }
        return try await git.readBlob(key.blob, maximumBytes: ManifestParser.maximumSize) ?? Data(count: ManifestParser.maximumSize + 1)
    }

    /// Desired state from the index (`--staged`): what the next commit would hold.
    public func desiredStaged(indexFile: String? = nil) async throws -> DesiredState {
        try await desired(entries: git.stagedEntries(under: Self.environmentsDirectory, indexFile: indexFile))
    }

    /// Files unchanged since the last call (same path, same blob) are neither read nor parsed again.
    private func desired(entries: [TreeEntry], untrusted: Set<String> = []) async throws -> DesiredState {
        var blobs: [String: ObjectID] = [:], keys: [ParseCache.Key] = []
        for entry in entries where entry.isBlob && EnvironmentSet.isRead(entry.name) {
            let path = "\(Self.environmentsDirectory)/\(entry.name)"
            blobs[path] = entry.id
            keys.append(ParseCache.Key(path: path, blob: entry.id))
        }
        let known = cache.manifests(keys)
        var files: [ManifestFile] = [], readKeys: [ParseCache.Key] = []
        for (key, parsed) in zip(keys, known) where parsed == nil {
            files.append(ManifestFile(path: key.path, data: try await manifestData(key)))
            readKeys.append(key)
        }
        let fresh = Dictionary(zip(readKeys, await EnvironmentSet.parseAll(files)), uniquingKeysWith: { first, _ in first })
        cache.keep(manifests: fresh, current: Set(keys))
        let set = EnvironmentSet(parsed: zip(keys, known).compactMap { key, parsed in parsed ?? fresh[key] }, untrusted: untrusted)
        var manifestBlobs: [EnvironmentName: ObjectID] = [:]
        for name in set.manifests.keys { manifestBlobs[name] = blobs[name.manifestPath] }
        return DesiredState(environments: set, blobs: manifestBlobs, files: blobs)
    }

    /// `Status/<env>.md` at `commit`, nil when the environment was never deployed.
    public func status(of name: EnvironmentName, at commit: ObjectID) async throws -> EnvironmentStatus? {
        guard let blob = try await git.blobID(at: name.statusPath, in: commit) else { return nil }
        return try await status(of: name, blob: blob)
    }

    /// Blob ids of every `Status/<env>.md` at `commit`: what changed since the last `Status/`
    /// tree read (a record commit changes one file of thousands), or the whole folder.
    public func statusBlobs(at commit: ObjectID) async throws -> [EnvironmentName: ObjectID] {
        guard let tree = try await git.treeID(at: "Status", in: commit) else { return [:] }
        let last = cache.lastStatuses.withLock { $0 }
        if let last, last.tree == tree { return last.blobs }
        var blobs: [EnvironmentName: ObjectID] = [:]
        func statusName(_ file: String) -> EnvironmentName? { file.hasSuffix(".md") ? EnvironmentName(String(file.dropLast(3))) : nil }
        if let last, let changes = try? await git.treeChanges(from: last.tree, to: tree), changes.count <= 64 {
            blobs = last.blobs
            for change in changes { statusName(change.name).map { blobs[$0] = change.new } }
        } else {
            for entry in try await git.treeEntries(tree) where entry.isBlob { statusName(entry.name).map { blobs[$0] = entry.id } }
        }
        cache.lastStatuses.withLock { $0 = (tree, blobs) }
        return blobs
    }

    /// A status file by blob id (parsed once per blob).
    public func status(of name: EnvironmentName, blob: ObjectID) async throws -> EnvironmentStatus {
        let key = ParseCache.Key(path: name.statusPath, blob: blob)
        if let known = cache.status(key) { return try known.get() }
        return try parseStatus(try await readStatus(blob, of: name), of: name, blob: blob).get()
    }

    /// A status file's content, at most 1 MiB (Slipway writes a few hundred bytes).
    func readStatus(_ blob: ObjectID, of name: EnvironmentName) async throws -> Data {
        guard let data = try await git.readBlob(blob, maximumBytes: 1 << 20) else { throw EngineError("\(name.statusPath) is larger than 1 MiB: not read") }
        return data
    }

    /// A status file's content parsed, and kept by blob.
    func parseStatus(_ data: Data, of name: EnvironmentName, blob: ObjectID) -> Result<EnvironmentStatus, EngineError> {
        let result: Result<EnvironmentStatus, EngineError>
        do {
            result = .success(try RecordTemplates.parseStatus(String(decoding: data, as: UTF8.self)))
        } catch {
            result = .failure(EngineError("\(name.statusPath): front matter is unreadable (\(ErrorText.sentence(error))); restore it from git history"))
        }
        cache.keep(status: result, for: ParseCache.Key(path: name.statusPath, blob: blob))
        return result
    }

    /// A manifest by blob id (e.g. the one a status file says is deployed), nil if unreadable.
    public func manifest(blob: ObjectID, path: String) async -> Manifest? {
        await parsed(blob: blob, path: path)?.manifest
    }

    /// A manifest file parsed on its own (its problems, not those across files); nil when it cannot be read.
    func parsed(blob: ObjectID, path: String) async -> ParsedManifest? {
        let key = ParseCache.Key(path: path, blob: blob)
        if let known = cache.manifest(key) { return known }
        guard let data = try? await git.readBlob(blob, maximumBytes: ManifestParser.maximumSize) else { return nil }
        let parsed = EnvironmentSet.parse(ManifestFile(path: path, data: data))
        cache.keep(older: parsed, for: key)
        return parsed
    }

    /// The ops repo's templates at `commit` that Slipway uses (`Templates/record.md.mustache`,
    /// `Templates/status.md.mustache`), by blob; read them with `templateText` once they count.
    func templateFiles(at commit: ObjectID) async throws -> [(name: String, blob: ObjectID)] {
        var files: [(String, ObjectID)] = []
        for name in [RecordTemplates.recordName, RecordTemplates.statusName] {
            if let blob = try await git.blobID(at: "Templates/\(name)", in: commit) { files.append((name, blob)) }
        }
        return files
    }

    /// Notification channels for every environment, beside each manifest's own `notify:`.
    public static let sharedNotify = "Notifications/all.yaml"

    /// A template's text, nil when it is larger than a template may be.
    func templateText(_ blob: ObjectID) async throws -> String? {
        try await git.readBlob(blob, maximumBytes: RecordTemplates.maximumBytes).map { String(decoding: $0, as: UTF8.self) }
    }
}

/// Manifests at one commit.
public struct DesiredState: Sendable {
    public let environments: EnvironmentSet
    /// Blob ids of the valid manifests.
    public let blobs: [EnvironmentName: ObjectID]
    /// Blob ids of every manifest file by path, invalid ones included.
    public let files: [String: ObjectID]
    /// How `Trust/` judged the manifests (set by `Engine.desired(at:)`; a run needs it).
    public internal(set) var trust: TrustVerdicts? = nil
}
