internal import CLibGit2
import SlipwayCore

/// Owns a `git_repository*`; `deinit` calls `git_repository_free`.
final class RepositoryHandle {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { git_repository_free(pointer) }
}

/// Runs `body` with a looked-up commit and frees it afterwards (`git_commit_lookup`).
func withCommit<T>(_ repo: OpaquePointer, _ id: ObjectID, _ body: (OpaquePointer) throws -> T) throws -> T {
    var oid = id.raw
    var commit: OpaquePointer?
    try check(git_commit_lookup(&commit, repo, &oid), "commit \(id.short)")
    guard let commit else { throw GitError(code: -1, message: "commit \(id.short) not found") }
    defer { git_commit_free(commit) }
    return try body(commit)
}

/// Runs `body` with the root tree of a commit (`git_commit_tree`).
func withTree<T>(_ repo: OpaquePointer, commit id: ObjectID, _ body: (OpaquePointer) throws -> T) throws -> T {
    try withCommit(repo, id) { commit in
        var tree: OpaquePointer?
        try check(git_commit_tree(&tree, commit))
        guard let tree else { throw GitError(code: -1, message: "commit \(id.short) has no tree") }
        defer { git_tree_free(tree) }
        return try body(tree)
    }
}
