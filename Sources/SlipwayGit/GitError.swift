internal import CLibGit2

/// An error reported by libgit2: its return code, error class and message.
public struct GitError: Error, CustomStringConvertible, Sendable {
    /// The negative return code (`GIT_ENOTFOUND`, `GIT_EMODIFIED`, …).
    public let code: Int32
    /// libgit2's error class (`GIT_ERROR_ODB`, …), 0 when libgit2 gave none.
    public let errorClass: Int32
    public let message: String

    public var description: String { "git: \(message)" }

    /// The ref moved between reading it and updating it (compare-and-swap lost).
    public var isModified: Bool { code == GIT_EMODIFIED.rawValue }
    public var isNotFound: Bool { code == GIT_ENOTFOUND.rawValue }
    public var isLocked: Bool { code == GIT_ELOCKED.rawValue }

    init(code: Int32, errorClass: Int32 = 0, message: String) {
        self.code = code
        self.errorClass = errorClass
        self.message = message
    }
}

/// Throws a `GitError` built from `git_error_last()` when `result` is negative.
/// Must be called right after the failing call: the last error is thread-local.
@discardableResult
func check(_ result: Int32, _ context: @autoclosure () -> String = "") throws -> Int32 {
    guard result < 0 else { return result }
    var message = "error \(result)"
    var errorClass: Int32 = 0
    if let last = git_error_last() {
        errorClass = last.pointee.klass
        if let text = last.pointee.message { message = String(cString: text) }
    }
    let prefix = context()
    throw GitError(code: result, errorClass: errorClass, message: prefix.isEmpty ? message : "\(prefix): \(message)")
}

/// libgit2 is initialised once per process, lazily, and never shut down.
enum LibGit2 {
    static let initialized: Bool = {
        git_libgit2_init()
        _ = slipway_git_set_tree_cache_limit(4 * 1024 * 1024)
        _ = slipway_git_set_commit_cache_limit(0)
        _ = slipway_git_set_cache_max_size(16 * 1024 * 1024)
        return true
    }()
}
