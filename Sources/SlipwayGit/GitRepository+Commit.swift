public import Foundation
internal import CLibGit2
public import SlipwayCore

/// A file that a commit writes (created or replaced).
public struct FileUpdate: Sendable {
    public let path: String
    public let content: Data
    public init(path: String, content: Data) {
        self.path = path
        self.content = content
    }
}

/// One change a commit makes to the tree.
public enum TreeChange: Sendable {
    /// Writes content at a path (created or replaced).
    case write(String, Data)
    /// Puts a blob that is already in the repository at a path (a file moved, or copied from
    /// another branch), without reading it.
    case place(String, ObjectID)
    /// Removes the file at a path.
    case remove(String)
    /// Removes the file at a path only while it still has this blob (a change someone made
    /// meanwhile keeps it).
    case removeIfUnchanged(String, ObjectID)

    public var path: String {
        switch self {
        case .write(let path, _), .place(let path, _), .remove(let path), .removeIfUnchanged(let path, _): path
        }
    }
}

/// Who a commit is by.
public struct Signature: Sendable {
    public let name: String
    public let email: String
    public init(name: String, email: String) {
        self.name = name
        self.email = email
    }
}

extension GitRepository {
    /// Commits `files` on top of the current tip of `branch` and moves the branch with a
    /// compare-and-swap (`git_tree_create_updated`, `git_commit_create`,
    /// `git_reference_create_matching`). When the tip moved meanwhile the commit is rebuilt on
    /// the new tip, so a commit pushed by someone else is never lost; nothing is forced.
    /// When `branch` is checked out, the commit is made holding git's index lock, and the index
    /// and working tree are updated for `files` only (see `IndexLock`); when the lock stays
    /// held for `indexWait`, nothing is committed and this throws.
    ///
    /// `beforeRefUpdate` runs between building the commit and moving the ref (tests use it
    /// to push a concurrent commit into exactly that window).
    @discardableResult
    public func commit(
        _ files: [FileUpdate],
        message: String,
        author: Signature,
        onto branch: String,
        beforeRefUpdate: (@Sendable () -> Void)? = nil
    ) async throws -> ObjectID {
        guard let id = try await commit(files, message: message, author: author, onto: branch, requiring: [:], beforeRefUpdate: beforeRefUpdate) else {
            throw GitError(code: GIT_EMODIFIED.rawValue, message: "\(branch) changed under the commit")
        }
        return id
    }

    /// The same, only while each path in `requiring` still has the given blob at the tip
    /// (checked again on every retry); nil when one changed, and nothing is committed.
    public func commit(
        _ files: [FileUpdate],
        message: String,
        author: Signature,
        onto branch: String,
        requiring: [String: ObjectID],
        beforeRefUpdate: (@Sendable () -> Void)? = nil
    ) async throws -> ObjectID? {
        try await commit(changes: files.map { .write($0.path, $0.content) }, message: message, author: author, onto: branch,
                   requiring: requiring, beforeRefUpdate: beforeRefUpdate)
    }

    /// Commits `changes` on top of the tip of `branch` (created when it does not exist yet),
    /// with the same compare-and-swap as `commit(_:message:author:onto:)`; nil when a path in
    /// `requiring` no longer has its blob. Changes that change nothing commit nothing: the
    /// tip is returned as it is.
    public func commit(
        changes: [TreeChange],
        message: String,
        author: Signature,
        onto branch: String,
        requiring: [String: ObjectID] = [:],
        beforeRefUpdate: (@Sendable () -> Void)? = nil
    ) async throws -> ObjectID? {
        for change in changes where !Self.isPlainPath(change.path) {
            throw GitError(code: -1, message: "\(change.path) is not a path Slipway writes (it must be relative, without . or .. parts)")
        }
        let written = try changes.map { change -> ObjectID? in
            guard case .write(_, let content) = change else { return nil }
            return try writeBlob(content)
        }
        // Held from before the branch moves until the index lists the commit (see `IndexLock`).
        var lock = try await lockWorkingTree(of: branch, wait: indexWait)
        defer { lock?.release() }
        var signature: UnsafeMutablePointer<git_signature>?
        try check(git_signature_now(&signature, author.name, author.email))
        guard let signature else { throw GitError(code: -1, message: "cannot build a signature") }
        defer { git_signature_free(signature) }

        var hook = beforeRefUpdate
        var races = 0
        let deadline = Date().addingTimeInterval(30)
        while races < 50 && Date() < deadline {
            let tip = try resolve(ref: branch)
            for (path, blob) in requiring where try tip.flatMap({ try blobID(at: path, in: $0) }) != blob {
                return nil
            }
            var blobs: [(String, ObjectID?)] = []
            for (change, blob) in zip(changes, written) {
                switch change {
                case .write(let path, _): blobs.append((path, blob))
                case .place(let path, let blob): blobs.append((path, blob))
                case .remove(let path): blobs.append((path, nil))
                case .removeIfUnchanged(let path, let blob):
                    if try tip.flatMap({ try blobID(at: path, in: $0) }) == blob { blobs.append((path, nil)) }
                }
            }
            let treeID = try updatedTree(base: tip, changes: blobs)
            if let tip, try commitInfoTree(tip) == ObjectID(treeID) { return tip }  // the lock goes with `defer`
            let commitID = try createCommit(tree: treeID, parent: tip, message: message, author: signature, committer: signature)
            hook?()
            hook = nil
            switch try updateRef(branch, to: commitID, from: tip, message: "slipway: \(message.prefix { $0 != "\n" })") {
            case .moved:
                if let held = lock {
                    lock = nil
                    // The commit is in: a working tree that cannot follow (a full disk) must not
                    // make it look failed. The index keeps the old files; `workingTreeProblem`
                    // says so, and Slipway puts back what a commit from that index takes out.
                    do { try updateWorkingTree(blobs, previous: tip, holding: held) } catch { workingTreeProblem = "\(error)" }
                }
                return commitID
            case .raced:
                races += 1
            case .locked:
                await waitOutLock(of: branch)
            }
        }
        throw GitError(code: GIT_EMODIFIED.rawValue, message: "\(branch) kept moving or stayed locked; gave up after \(races) attempts")
    }

    /// The tree of `tip` with `changes` applied: a blob put at each path, or the path removed when nil.
    func updatedTree(base tip: ObjectID?, changes: [(path: String, blob: ObjectID?)]) throws -> git_oid {
        var baseTree: OpaquePointer?
        if let tip {
            _ = try withCommit(repo, tip) { commit in try check(git_commit_tree(&baseTree, commit)) }
        } else {
            var builder: OpaquePointer?
            try check(git_treebuilder_new(&builder, repo, nil))
            defer { git_treebuilder_free(builder) }
            var empty = git_oid()
            try check(git_treebuilder_write(&empty, builder))
            try check(git_tree_lookup(&baseTree, repo, &empty))
        }
        defer { git_tree_free(baseTree) }

        // Removing a path that is not there fails the whole update: a file someone else
        // removed meanwhile is simply gone already.
        let changes = changes.filter { change in
            change.blob != nil || (try? hasEntry(baseTree, change.path)) == true
        }
        var out = git_oid()
        let paths = changes.map { strdup($0.path) }
        defer { paths.forEach { free($0) } }
        var updates = zip(changes, paths).map { change, path in
            git_tree_update(action: change.blob == nil ? GIT_TREE_UPDATE_REMOVE : GIT_TREE_UPDATE_UPSERT,
                            id: change.blob?.raw ?? git_oid(), filemode: GIT_FILEMODE_BLOB, path: path)
        }
        try check(git_tree_create_updated(&out, repo, baseTree, updates.count, &updates), "building the tree")
        return out
    }

    /// A path Slipway may write: relative, its parts neither empty nor `.` nor `..`.
    static func isPlainPath(_ path: String) -> Bool {
        !path.isEmpty && !path.hasPrefix("/") && path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
    }

    /// The tree id of a commit (`git_commit_tree_id`).
    func commitInfoTree(_ commit: ObjectID) throws -> ObjectID {
        try withCommit(repo, commit) { handle in
            guard let id = git_commit_tree_id(handle) else { throw GitError(code: -1, message: "commit \(commit.short) has no tree") }
            return ObjectID(id.pointee)
        }
    }

    /// Whether `tree` has an entry at `path` (`git_tree_entry_bypath`).
    private func hasEntry(_ tree: OpaquePointer?, _ path: String) throws -> Bool {
        var entry: OpaquePointer?
        let result = git_tree_entry_bypath(&entry, tree, path)
        git_tree_entry_free(entry)
        if result == GIT_ENOTFOUND.rawValue { return false }
        try check(result, path)
        return true
    }

    func createCommit(
        tree treeOID: git_oid, parent: ObjectID?, message: String,
        author: UnsafePointer<git_signature>?, committer: UnsafePointer<git_signature>?
    ) throws -> ObjectID {
        var treeOID = treeOID
        var tree: OpaquePointer?
        try check(git_tree_lookup(&tree, repo, &treeOID))
        defer { git_tree_free(tree) }
        var parentCommit: OpaquePointer?
        if let parent {
            var parentOID = parent.raw
            try check(git_commit_lookup(&parentCommit, repo, &parentOID))
        }
        defer { git_commit_free(parentCommit) }
        var out = git_oid()
        var parents: [OpaquePointer?] = parentCommit.map { [$0] } ?? []
        try check(git_commit_create(&out, repo, nil, author, committer, "UTF-8", message, tree, parents.count, &parents))
        return ObjectID(out)
    }

    enum RefUpdate { case moved, raced, locked }

    /// Moves `branch` from `old` to `new`: `.raced` when the branch no longer points at `old`,
    /// `.locked` while someone holds its lock file.
    func updateRef(_ branch: String, to new: ObjectID, from old: ObjectID?, message: String) throws -> RefUpdate {
        var newOID = new.raw
        var ref: OpaquePointer?
        defer { git_reference_free(ref) }
        let result: Int32
        if let old {
            var oldOID = old.raw
            result = git_reference_create_matching(&ref, repo, branch, &newOID, 1, &oldOID, message)
        } else {
            result = git_reference_create(&ref, repo, branch, &newOID, 0, message)
        }
        if result == GIT_ELOCKED.rawValue { return .locked }
        if result == GIT_EMODIFIED.rawValue || result == GIT_EEXISTS.rawValue { return .raced }
        try check(result, "updating \(branch)")
        return .moved
    }

    /// A ref lock lives for the milliseconds of one update; one older than 5 s was left by a
    /// process killed mid-update (a git, or Slipway itself) and would block the branch for
    /// good, so it is removed. A younger one is waited for (50 ms at a time).
    func waitOutLock(of branch: String) async {
        let lock = gitDirectory.appendingPathComponent(branch + ".lock")
        guard let modified = (try? FileManager.default.attributesOfItem(atPath: lock.path))?[.modificationDate] as? Date else { return }
        if Date().timeIntervalSince(modified) >= 5 {
            try? FileManager.default.removeItem(at: lock)
        } else {
            try? await Task.sleep(for: .milliseconds(50))  // on the cooperative pool: never block a thread
        }
    }
}
