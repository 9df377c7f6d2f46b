public import Foundation
internal import CLibGit2
public import SlipwayCore

/// A git repository opened through libgit2. An actor: libgit2 repository handles must be
/// used by one thread at a time.
public actor GitRepository {
    let handle: RepositoryHandle
    var repo: OpaquePointer { handle.pointer }
    /// Answers of `introducingCommit`, by path and blob: the tip asked from and the commit found.
    var introductions: [String: (tip: ObjectID, commit: ObjectID)] = [:]
    /// How long a commit to the checked-out branch waits for git's index lock.
    public private(set) var indexWait: Duration = GitRepository.indexWait
    public func setIndexWait(_ wait: Duration) { indexWait = wait }
    /// Why the index and working tree did not follow the last commit that landed, if they did not.
    var workingTreeProblem: String?
    /// Returns `workingTreeProblem` and forgets it.
    public func takeWorkingTreeProblem() -> String? {
        defer { workingTreeProblem = nil }
        return workingTreeProblem
    }

    /// The repository's git directory (`.git/`, or the repository itself when bare).
    public nonisolated let gitDirectory: URL
    /// The working tree, nil for a bare repository.
    public nonisolated let workingDirectory: URL?

    /// Opens the repository at or above `path` (`git_repository_open_ext`).
    public init(path: String) throws {
        _ = LibGit2.initialized
        var out: OpaquePointer?
        try check(git_repository_open_ext(&out, path, 0, nil), "cannot open a git repository at \(path)")
        guard let out else { throw GitError(code: -1, message: "cannot open a git repository at \(path)") }
        handle = RepositoryHandle(out)
        // Inside a pre-receive hook the pushed objects wait in a quarantine folder that git
        // names here; libgit2 does not read it by itself.
        if let quarantine = ProcessInfo.processInfo.environment["GIT_QUARANTINE_PATH"] {
            var odb: OpaquePointer?
            if git_repository_odb(&odb, out) == 0, let odb {
                _ = git_odb_add_disk_alternate(odb, quarantine)
                git_odb_free(odb)
            }
        }
        gitDirectory = URL(fileURLWithPath: String(cString: git_repository_path(out)))
        if git_repository_is_bare(out) == 0, let workdir = git_repository_workdir(out) {
            workingDirectory = URL(fileURLWithPath: String(cString: workdir))
        } else {
            workingDirectory = nil
        }
    }

    public nonisolated var isBare: Bool { workingDirectory == nil }

    /// The full name of the branch HEAD points at (`refs/heads/main`), even when unborn.
    public func headBranch() throws -> String {
        var head: OpaquePointer?
        try check(git_reference_lookup(&head, repo, "HEAD"))
        guard let head else { throw GitError(code: -1, message: "HEAD not found") }
        defer { git_reference_free(head) }
        guard let target = git_reference_symbolic_target(head) else {
            throw GitError(code: -1, message: "HEAD is detached; name a branch with --branch")
        }
        return String(cString: target)
    }

    /// Whether the repository has any ref at all (a new, empty one has none).
    public func hasRefs() throws -> Bool {
        var iterator: OpaquePointer?
        try check(git_reference_iterator_new(&iterator, repo), "refs")
        defer { git_reference_iterator_free(iterator) }
        var reference: OpaquePointer?
        let result = git_reference_next(&reference, iterator)
        git_reference_free(reference)
        if result == GIT_ITEROVER.rawValue { return false }
        try check(result, "refs")
        return true
    }

    /// The commit a ref points at, nil when the ref does not exist (`git_reference_name_to_id`).
    public func resolve(ref name: String) throws -> ObjectID? {
        var oid = git_oid()
        let result = git_reference_name_to_id(&oid, repo, name)
        if result == GIT_ENOTFOUND.rawValue { return nil }
        try check(result, "ref \(name)")
        return ObjectID(oid)
    }

    /// Resolves any revision expression to a commit (`git_revparse_single`, peeled to a commit).
    public func resolveRevision(_ spec: String) throws -> ObjectID {
        var object: OpaquePointer?
        try check(git_revparse_single(&object, repo, spec), "revision \(spec)")
        guard let object else { throw GitError(code: -1, message: "revision \(spec) not found") }
        defer { git_object_free(object) }
        var commit: OpaquePointer?
        try check(git_object_peel(&commit, object, GIT_OBJECT_COMMIT), "revision \(spec)")
        guard let commit else { throw GitError(code: -1, message: "revision \(spec) is not a commit") }
        defer { git_object_free(commit) }
        guard let id = git_object_id(commit) else { throw GitError(code: -1, message: "revision \(spec) has no id") }
        return ObjectID(id.pointee)
    }

    /// Whether `branch` is the branch checked out in a working tree, so that commits to it
    /// must also reach the index and working tree.
    func isCheckedOut(_ branch: String) -> Bool {
        guard !isBare, let head = try? headBranch() else { return false }
        return head == branch
    }
}

extension GitRepository {
    /// Creates a repository at `path` whose HEAD names `branch` (`git_repository_init_ext`).
    public static func initialize(path: String, bare: Bool = false, branch: String = "main") throws -> GitRepository {
        _ = LibGit2.initialized
        var options = git_repository_init_options()
        try check(git_repository_init_options_init(&options, UInt32(GIT_REPOSITORY_INIT_OPTIONS_VERSION)))
        options.flags = GIT_REPOSITORY_INIT_MKPATH.rawValue | (bare ? GIT_REPOSITORY_INIT_BARE.rawValue : 0)
        var out: OpaquePointer?
        try branch.withCString { head in
            options.initial_head = head
            try check(git_repository_init_ext(&out, path, &options), "cannot create a repository at \(path)")
        }
        git_repository_free(out)
        return try GitRepository(path: path)
    }

    /// The person configured in git (`user.name`, `user.email`; `git_signature_default`), nil when unset.
    public func defaultSignature() -> Signature? {
        var signature: UnsafeMutablePointer<git_signature>?
        guard git_signature_default(&signature, repo) == 0, let signature else { return nil }
        defer { git_signature_free(signature) }
        return Signature(name: String(cString: signature.pointee.name), email: String(cString: signature.pointee.email))
    }
}
