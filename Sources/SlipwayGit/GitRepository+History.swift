import Foundation
internal import CLibGit2

extension GitRepository {
    /// Visits the first-parent chain from `tip`, newest first (`git_revwalk` with
    /// `git_revwalk_simplify_first_parent`: the branch's own history, in order even when
    /// commits share a timestamp),
    /// passing those whose message contains `needle` to `visit` until it returns false.
    /// The needle is checked on the raw message before any Swift string is built, which is
    /// what keeps a walk over 100,000 commits cheap.
    public func walk(from tip: ObjectID, containing needle: String, _ visit: (CommitInfo) throws -> Bool) throws {
        var walker: OpaquePointer?
        try check(git_revwalk_new(&walker, repo))
        guard let walker else { return }
        defer { git_revwalk_free(walker) }
        try check(git_revwalk_sorting(walker, GIT_SORT_NONE.rawValue))
        try check(git_revwalk_simplify_first_parent(walker))
        var start = tip.raw
        try check(git_revwalk_push(walker, &start))
        var oid = git_oid()
        while git_revwalk_next(&oid, walker) == 0 {
            var commit: OpaquePointer?
            try check(git_commit_lookup(&commit, repo, &oid))
            guard let commit else { continue }
            defer { git_commit_free(commit) }
            guard let raw = git_commit_message(commit), strstr(raw, needle) != nil else { continue }
            if try !visit(commitInfo(commit, id: ObjectID(oid))) { return }
        }
    }
}

extension GitRepository {
    /// The commit that gave `path` the content `blob`: following first parents from `tip`, the
    /// oldest commit in the unbroken run of commits where `path` is `blob`. Looks at most
    /// `limit` commits back.
    public func introducingCommit(of path: String, blob: ObjectID, from tip: ObjectID, limit: Int = 10_000) throws -> ObjectID {
        var current = tip
        for _ in 0..<limit {
            guard let parent = try commitInfo(current).parents.first,
                  try blobID(at: path, in: parent) == blob else { return current }
            current = parent
        }
        return current
    }
}
