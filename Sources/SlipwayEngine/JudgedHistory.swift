import Foundation
import SlipwayGit
import SlipwayCore

/// What counts as history a machine judged before, so that content from it that is not what
/// was accepted is a rewind (README, "Security model"). On a daemon's machine: content it
/// accepted, each known by the digest of what the signature of the commit that made it covers
/// (`<state>/trust/accepted.log`: a re-encoded copy of a signed commit has another id, not
/// another digest), and all history before the first tip it judged. For the server hook, which
/// keeps nothing: content the branch's history held before the push (any line of it: a merge
/// can make any line the first-parent one).
struct JudgedHistory: Sendable {
    enum Kind: Sendable {
        /// `accepted` reads `accepted.log`: only content that changed since the last judgement asks.
        case machine(first: ObjectID?, accepted: @Sendable () -> Set<String>)
        case branch(base: ObjectID)
        case none
    }
    let kind: Kind

    /// Commits the server hook looks back through for content the branch held.
    static let branchDepth = 10_000

    static func file(_ state: StateDirectory) -> URL { state.root.appendingPathComponent("trust").appendingPathComponent("accepted.log") }

    /// A line of `accepted.log` (a deletion accepted names no blob: `absent`).
    static func entry(digest: String, path: String, blob: ObjectID?) -> String { "\(digest) \(path) \(blob?.hex ?? "absent")" }

    static func load(_ state: StateDirectory) -> Set<String> {
        Set(((try? String(contentsOf: file(state), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init))
    }

    /// Whether `blob` at `path`, made by `introduced`, comes from history judged before.
    func isOld(_ path: String, _ blob: ObjectID?, madeBy introduced: ObjectID, in git: GitRepository) async throws -> Bool {
        switch kind {
        case .none:
            return false
        case .branch(let base):
            guard try await git.isAncestor(introduced, of: base) else { return false }
            return try await git.history(of: base, held: path, blob: blob, depth: Self.branchDepth)
        case .machine(let first, let accepted):
            let digest = try await git.signedContentDigest(of: introduced)
            if accepted().contains(Self.entry(digest: digest, path: path, blob: blob)) { return true }
            guard let first else { return false }
            if try await git.isAncestor(introduced, of: first) { return true }
            // A copy (signature re-encoded) of a commit from before the first tip judged sits on that older history.
            let parents = try await git.commitInfo(introduced).parents
            guard digest != introduced.hex, !parents.isEmpty else { return false }
            for parent in parents {
                if parent == first { return false }
                if try await !git.isAncestor(parent, of: first) { return false }
            }
            return true
        }
    }
}
