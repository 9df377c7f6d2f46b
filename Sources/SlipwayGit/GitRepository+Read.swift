public import Foundation
internal import CLibGit2
public import SlipwayCore

/// An entry of a tree or of the index.
public struct TreeEntry: Sendable, Hashable {
    public let name: String
    public let id: ObjectID
    public let isBlob: Bool
}

/// What a commit says about itself.
public struct CommitInfo: Sendable {
    public let id: ObjectID
    public let authorName: String
    public let authorEmail: String
    public let time: Date
    public let message: String
    public let parents: [ObjectID]

    /// The first line of the message.
    public var subject: String { String(message.prefix { $0 != "\n" }) }
}

extension GitRepository {
    /// The entries of the directory `path` in a commit's tree; nil when it does not exist
    /// (`git_tree_entry_bypath`, `git_tree_lookup`).
    public func listDirectory(_ path: String, at commit: ObjectID) throws -> [TreeEntry]? {
        guard let treeID = try entryID(at: path, in: commit, type: GIT_OBJECT_TREE) else { return nil }
        var raw = treeID.raw
        var tree: OpaquePointer?
        try check(git_tree_lookup(&tree, repo, &raw), path)
        guard let tree else { return nil }
        defer { git_tree_free(tree) }
        return (0..<git_tree_entrycount(tree)).compactMap { index in
            guard let child = git_tree_entry_byindex(tree, index), let id = git_tree_entry_id(child) else { return nil }
            return TreeEntry(
                name: String(cString: git_tree_entry_name(child)),
                id: ObjectID(id.pointee),
                isBlob: git_tree_entry_type(child) == GIT_OBJECT_BLOB
            )
        }
    }

    /// The entries of a tree, by its id (`git_tree_lookup`); empty when it is not a tree.
    public func treeEntries(_ tree: ObjectID) throws -> [TreeEntry] {
        var raw = tree.raw
        var handle: OpaquePointer?
        let result = git_tree_lookup(&handle, repo, &raw)
        if result == GIT_ENOTFOUND.rawValue { return [] }
        try check(result, "tree \(tree.short)")
        guard let handle else { return [] }
        defer { git_tree_free(handle) }
        return (0..<git_tree_entrycount(handle)).compactMap { index in
            guard let child = git_tree_entry_byindex(handle, index), let id = git_tree_entry_id(child) else { return nil }
            return TreeEntry(name: String(cString: git_tree_entry_name(child)), id: ObjectID(id.pointee),
                             isBlob: git_tree_entry_type(child) == GIT_OBJECT_BLOB)
        }
    }

    /// The entries directly in tree `new` that differ from tree `old` (added, changed or gone),
    /// found by comparing the two trees (`git_diff_tree_to_tree`): thousands of entries, a few
    /// changed, cost the few. A blob's `id` is nil on the side it is missing from (or is not a
    /// blob on: a folder, a submodule); what is inside folders is left out.
    public func treeChanges(from old: ObjectID, to new: ObjectID) throws -> [(name: String, old: ObjectID?, new: ObjectID?)] {
        var (oldRaw, newRaw) = (old.raw, new.raw)
        var oldTree: OpaquePointer?, newTree: OpaquePointer?
        defer {
            git_tree_free(oldTree)
            git_tree_free(newTree)
        }
        try check(git_tree_lookup(&oldTree, repo, &oldRaw), "tree \(old.short)")
        try check(git_tree_lookup(&newTree, repo, &newRaw), "tree \(new.short)")
        var diff: OpaquePointer?
        try check(git_diff_tree_to_tree(&diff, repo, oldTree, newTree, nil), "diff of trees \(old.short) and \(new.short)")
        defer { git_diff_free(diff) }
        func blob(_ file: git_diff_file) -> ObjectID? {  // a file or a symbolic link, by the type bits of its mode
            [0o100000, 0o120000].contains(Int(file.mode) & 0o170000) ? ObjectID(file.id) : nil
        }
        // One change per name: a blob that became a link comes as a deletion and an addition.
        var changes: [(name: String, old: ObjectID?, new: ObjectID?)] = [], index: [String: Int] = [:]
        for position in 0..<git_diff_num_deltas(diff) {
            guard let delta = git_diff_get_delta(diff, position)?.pointee, let path = delta.new_file.path ?? delta.old_file.path else { continue }
            let name = String(cString: path)
            guard !name.contains("/") else { continue }
            let old = delta.status == GIT_DELTA_ADDED ? nil : blob(delta.old_file), new = delta.status == GIT_DELTA_DELETED ? nil : blob(delta.new_file)
            if let known = index[name] {
                changes[known] = (name, changes[known].old ?? old, new ?? changes[known].new)
            } else {
                index[name] = changes.count
                changes.append((name, old, new))
            }
        }
        return changes.filter { $0.old != $0.new }
    }

    /// The commits reachable from `tip` and not from `known`, newest first: what a push of `tip`
    /// over `known` brings, side branches of merges included. Every commit reachable from `tip`
    /// when `known` is nil.
    public func newCommits(_ tip: ObjectID, over known: ObjectID?) throws -> [ObjectID] {
        var commits: [ObjectID] = []
        try revwalk(from: tip, hiding: known, topological: true) { commits.append($0); return true }
        return commits
    }

    /// Visits the commits reachable from `tip` and not from `hidden` (only along first parents
    /// with `firstParent`), newest first, until `visit` returns false (`git_revwalk`).
    func revwalk(from tip: ObjectID, hiding hidden: ObjectID? = nil, firstParent: Bool = false, topological: Bool = false,
                 _ visit: (ObjectID) throws -> Bool) throws {
        var walk: OpaquePointer?
        try check(git_revwalk_new(&walk, repo))
        defer { git_revwalk_free(walk) }
        if topological { git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL.rawValue | GIT_SORT_TIME.rawValue) }
        if firstParent { try check(git_revwalk_simplify_first_parent(walk)) }
        var raw = tip.raw
        try check(git_revwalk_push(walk, &raw), "commit \(tip.short)")
        if let hidden {
            var hide = hidden.raw
            try check(git_revwalk_hide(walk, &hide), "commit \(hidden.short)")
        }
        var next = git_oid()
        while git_revwalk_next(&next, walk) == 0 {
            if try !visit(ObjectID(next)) { return }
        }
    }

    /// The oldest version of `path` (file or folder) in the first-parent history of `tip`, and the
    /// commit that has it, however far back: nil when no commit on that line has `path`. The
    /// walk does not go below `absent`, a commit whose own history is known to lack `path`.
    public func oldestEntry(of path: String, from tip: ObjectID, absentBefore absent: ObjectID? = nil) throws -> (id: ObjectID, commit: ObjectID)? {
        var oldest: (id: ObjectID, commit: ObjectID)?
        let hidden = try absent.flatMap { try contains($0) ? $0 : nil }
        try revwalk(from: tip, hiding: hidden, firstParent: true) { commit in
            if let id = try entryID(at: path, in: commit) { oldest = (id, commit) }
            return true
        }
        return oldest
    }

    /// The blob id at `path` in a commit, nil when there is no file there.
    public func blobID(at path: String, in commit: ObjectID) throws -> ObjectID? {
        try entryID(at: path, in: commit, type: GIT_OBJECT_BLOB)
    }

    /// The id of the folder at `path` in a commit, nil when there is none.
    public func treeID(at path: String, in commit: ObjectID) throws -> ObjectID? {
        try entryID(at: path, in: commit, type: GIT_OBJECT_TREE)
    }

    /// The id of the entry (file or folder) at `path` in a commit, nil when there is none.
    public func entryID(at path: String, in commit: ObjectID) throws -> ObjectID? {
        try entryID(at: path, in: commit, type: nil)
    }

    /// The id of the entry at `path` when it exists and has `type` (any when nil; `git_tree_entry_bypath`).
    func entryID(at path: String, in commit: ObjectID, type: git_object_t?) throws -> ObjectID? {
        try withTree(repo, commit: commit) { root in
            var entry: OpaquePointer?
            let result = git_tree_entry_bypath(&entry, root, path)
            if result == GIT_ENOTFOUND.rawValue { return nil }
            try check(result, path)
            guard let entry else { return nil }
            defer { git_tree_entry_free(entry) }
            guard type == nil || git_tree_entry_type(entry) == type, let oid = git_tree_entry_id(entry) else { return nil }
            return ObjectID(oid.pointee)
        }
    }

    /// The content of the file at `path` in a commit, nil when there is none.
    public func readFile(_ path: String, at commit: ObjectID) throws -> Data? {
        guard let id = try blobID(at: path, in: commit) else { return nil }
        return try readBlob(id)
    }

    /// Writes `content` as a blob (`git_blob_create_from_buffer`); its id.
    public func writeBlob(_ content: Data) throws -> ObjectID {
        var oid = git_oid()
        try content.withUnsafeBytes { bytes in
            _ = try check(git_blob_create_from_buffer(&oid, repo, bytes.baseAddress, bytes.count), "writing a blob")
        }
        return ObjectID(oid)
    }

    /// Whether the object database has `id` (`git_odb_exists`).
    public func contains(_ id: ObjectID) throws -> Bool {
        var odb: OpaquePointer?
        try check(git_repository_odb(&odb, repo))
        defer { git_odb_free(odb) }
        var oid = id.raw
        return git_odb_exists(odb, &oid) == 1
    }

    /// A blob's content, read from the object database (`git_blob_lookup`).
    public func readBlob(_ id: ObjectID) throws -> Data {
        var oid = id.raw
        var blob: OpaquePointer?
        try check(git_blob_lookup(&blob, repo, &oid), "blob \(id.short)")
        guard let blob else { throw GitError(code: -1, message: "blob \(id.short) not found") }
        defer { git_blob_free(blob) }
        let size = Int(git_blob_rawsize(blob))
        guard size > 0, let bytes = git_blob_rawcontent(blob) else { return Data() }
        return Data(bytes: bytes, count: size)
    }

    /// A blob's content when it is a blob of at most `maximumBytes`, nil otherwise — for files
    /// someone else pushed, read without trusting their size (`git_odb_read_header` first).
    public func readBlob(_ id: ObjectID, maximumBytes: Int) throws -> Data? {
        var odb: OpaquePointer?
        try check(git_repository_odb(&odb, repo))
        defer { git_odb_free(odb) }
        var oid = id.raw
        var size = 0
        var type = GIT_OBJECT_INVALID
        let result = git_odb_read_header(&size, &type, odb, &oid)
        if result == GIT_ENOTFOUND.rawValue { return nil }
        try check(result, "blob \(id.short)")
        guard type == GIT_OBJECT_BLOB, size <= maximumBytes else { return nil }
        return try readBlob(id)
    }

    /// The staged (stage 0) entries of the index under `directory/`, one level deep
    /// (`git_repository_index`, `git_index_get_byindex`). `indexFile` names another index, as
    /// git's `GIT_INDEX_FILE` does for the hooks of `git commit -a` and `git commit <paths>`.
    public func stagedEntries(under directory: String, indexFile: String? = nil) throws -> [TreeEntry] {
        var index: OpaquePointer?
        if let indexFile {
            try check(git_index_open(&index, indexFile), "index \(indexFile)")
        } else {
            try check(git_repository_index(&index, repo), "index")
        }
        guard let index else { return [] }
        defer { git_index_free(index) }
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        return (0..<git_index_entrycount(index)).compactMap { position in
            guard let entry = git_index_get_byindex(index, position), let cPath = entry.pointee.path else { return nil }
            let path = String(cString: cPath)
            guard path.hasPrefix(prefix) else { return nil }
            let name = String(path.dropFirst(prefix.count))
            guard !name.contains("/") else { return nil }
            return TreeEntry(name: name, id: ObjectID(entry.pointee.id), isBlob: true)
        }
    }

    /// Author, time, message and parents of a commit.
    public func commitInfo(_ id: ObjectID) throws -> CommitInfo {
        try withCommit(repo, id) { commit in
            commitInfo(commit, id: id)
        }
    }

    func commitInfo(_ commit: OpaquePointer, id: ObjectID) -> CommitInfo {
        let author = git_commit_author(commit)
        let parents = (0..<git_commit_parentcount(commit)).compactMap { index in
            git_commit_parent_id(commit, index).map { ObjectID($0.pointee) }
        }
        return CommitInfo(
            id: id,
            authorName: author.flatMap { $0.pointee.name.map { String(cString: $0) } } ?? "",
            authorEmail: author.flatMap { $0.pointee.email.map { String(cString: $0) } } ?? "",
            time: Date(timeIntervalSince1970: TimeInterval(git_commit_time(commit))),
            message: git_commit_message(commit).map { String(cString: $0) } ?? "",
            parents: parents
        )
    }
}
