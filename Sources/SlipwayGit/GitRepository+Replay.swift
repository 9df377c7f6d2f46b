import Foundation
internal import CLibGit2
public import SlipwayCore

extension GitRepository {
    /// Whether `ancestor` is `commit` or one of its ancestors (`git_graph_descendant_of`).
    public func isAncestor(_ ancestor: ObjectID, of commit: ObjectID) throws -> Bool {
        if ancestor == commit { return true }
        var a = commit.raw, b = ancestor.raw
        return try check(git_graph_descendant_of(repo, &a, &b), "ancestry of \(commit.short)") == 1
    }

    /// A commit on no branch whose parents are `parents` and whose tree is empty: a mark that
    /// keeps several lines of history together (an ancestry question about it covers them all).
    public func mark(joining parents: [ObjectID], message: String) throws -> ObjectID {
        var builder: OpaquePointer?
        try check(git_treebuilder_new(&builder, repo, nil))
        defer { git_treebuilder_free(builder) }
        var tree = git_oid()
        try check(git_treebuilder_write(&tree, builder))
        var treeObject: OpaquePointer?
        try check(git_tree_lookup(&treeObject, repo, &tree))
        defer { git_tree_free(treeObject) }
        var commits: [OpaquePointer?] = []
        defer { commits.forEach { git_commit_free($0) } }
        for parent in parents {
            var id = parent.raw
            var commit: OpaquePointer?
            try check(git_commit_lookup(&commit, repo, &id), "commit \(parent.short)")
            commits.append(commit)
        }
        var signature: UnsafeMutablePointer<git_signature>?
        // Now, not 0: libgit2's ancestry walks stop at commits older than what they look for.
        try check(git_signature_now(&signature, "Slipway", "slipway@localhost"))
        defer { git_signature_free(signature) }
        var out = git_oid()
        try check(git_commit_create(&out, repo, nil, signature, signature, "UTF-8", message, treeObject, commits.count, &commits))
        return ObjectID(out)
    }

    /// What a signature of `commit` covers, as one id: a copy of a signed commit with its
    /// signature re-encoded has another commit id but the same digest. The commit id itself for
    /// a commit without a signature.
    public func signedContentDigest(of commit: ObjectID) throws -> String {
        guard let signature = try signature(of: commit) else { return commit.hex }
        var out = git_oid()
        try signature.signedData.withUnsafeBytes { bytes in
            try check(git_odb_hash(&out, bytes.baseAddress, bytes.count, GIT_OBJECT_BLOB), "hashing \(commit.short)")
        }
        return ObjectID(out).hex
    }

    /// Points `ref` at `commit` whatever it pointed at, so that git keeps the commit and its
    /// history however the branches move (`git gc` prunes only what no ref reaches).
    public func keep(_ commit: ObjectID, as ref: String) throws {
        var id = commit.raw
        var reference: OpaquePointer?
        defer { git_reference_free(reference) }
        try check(git_reference_create(&reference, repo, ref, &id, 1, "slipway: keep \(commit.short)"), "updating \(ref)")
    }

    /// Moves `branch` from `old` to `new` (compare-and-swap); false when it no longer points at
    /// `old` or is locked (the caller tries again on its next wake-up).
    public func moveBranch(_ branch: String, to new: ObjectID, from old: ObjectID?, message: String) async throws -> Bool {
        switch try updateRef(branch, to: new, from: old, message: message) {
        case .moved: return true
        case .raced: return false
        case .locked:
            await waitOutLock(of: branch)
            return false
        }
    }

    /// Commits on `branch` after `base`, following first parents from the tip, oldest first.
    public func commits(on branch: String, after base: ObjectID, limit: Int = 10_000) throws -> [ObjectID] {
        guard var current = try resolve(ref: branch) else { return [] }
        var result: [ObjectID] = []
        while result.count < limit, try !isAncestor(current, of: base) {
            result.append(current)
            guard let parent = try commitInfo(current).parents.first else { break }
            current = parent
        }
        return result.reversed()
    }

    /// Re-creates `commits` (oldest first) on top of `base`: each one's changes against its
    /// first parent, with its message, author and committer. A commit for which `keep` says
    /// false (given the paths it changes and whether `base` changed them too) is dropped.
    /// Writes objects only; the caller moves the branch.
    public func replay(_ commits: [ObjectID], onto base: ObjectID,
                       keep: (_ conflicting: [String]) -> Bool) throws -> (tip: ObjectID, replayed: [(old: ObjectID, new: ObjectID)], dropped: [ObjectID]) {
        var tip = base
        var replayed: [(ObjectID, ObjectID)] = [], dropped: [ObjectID] = []
        for id in commits {
            let info = try commitInfo(id)
            let changes = try changedFiles(id)
            let conflicting = try changes.filter { change in
                let before = try info.parents.first.flatMap { try entryID(at: change.path, in: $0) }
                return try entryID(at: change.path, in: base) != before
            }.map(\.path)
            guard conflicting.isEmpty || keep(conflicting) else {
                dropped.append(id)
                continue
            }
            tip = try withCommit(repo, id) { commit in
                let tree = try updatedTree(base: tip, changes: changes)
                return try createCommit(tree: tree, parent: tip, message: info.message,
                                        author: git_commit_author(commit), committer: git_commit_committer(commit))
            }
            replayed.append((id, tip))
        }
        return (tip, replayed, dropped)
    }

    /// Files a commit changed against its first parent: the new blob, nil when deleted.
    func changedFiles(_ id: ObjectID) throws -> [(path: String, blob: ObjectID?)] {
        let parent = try commitInfo(id).parents.first
        var oldTree: OpaquePointer?, newTree: OpaquePointer?
        defer {
            git_tree_free(oldTree)
            git_tree_free(newTree)
        }
        if let parent { _ = try withCommit(repo, parent) { try check(git_commit_tree(&oldTree, $0)) } }
        _ = try withCommit(repo, id) { try check(git_commit_tree(&newTree, $0)) }
        var diff: OpaquePointer?
        try check(git_diff_tree_to_tree(&diff, repo, oldTree, newTree, nil), "diff of \(id.short)")
        defer { git_diff_free(diff) }
        return (0..<git_diff_num_deltas(diff)).compactMap { index in
            guard let delta = git_diff_get_delta(diff, index)?.pointee, let path = delta.new_file.path ?? delta.old_file.path else { return nil }
            return (String(cString: path), delta.status == GIT_DELTA_DELETED ? nil : ObjectID(delta.new_file.id))
        }
    }
}
