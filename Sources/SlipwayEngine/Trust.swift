import Foundation
public import SlipwayGit
import SlipwayManifest
import SlipwayHost
public import SlipwayCore

/// Who may change what Slipway deploys. An ops repo turns it on by committing
/// `Trust/allowed_signers` (SSH, the format of git's `gpg.ssh.allowedSignersFile`) and/or
/// OpenPGP public keys as `Trust/gpg/*.asc`. From then on a change of what decides what runs
/// (a manifest, an approval, a template) counts only when the commit that made it is signed by
/// one of them, or was made by Slipway on this machine (promotions, reverts, rollbacks).
///
/// The root is pinned per machine (`<state>/trust/pinned`, oldest first): given with
/// `slipway trust pin`, or else the oldest `Trust/` on the branch's first-parent line (trust on
/// first use). A later version of `Trust/` counts only when the commit that made it is signed by
/// a key of the version before it. New commits are judged by the newest version that counts,
/// never by an older one they were built on, so a key removed from `Trust/` stops counting.
/// What this machine accepted is kept in its `TrustLedger`, so old signed content brought back
/// by rewriting history does not count again. A machine with a root refuses everything once
/// `Trust/` is gone.
struct TrustCheck {
    let repository: OpsRepository
    let state: StateDirectory
    let resolver: ExecutableResolver
    /// Verdicts of this check's signature verifications (see `verifySignature`).
    let signatures = SignatureCache()
    /// Whether `takeRoot` may remember in the state directory how far history has no `Trust/`
    /// (the server hook keeps nothing).
    var remembers = true

    enum Verdict: Equatable, Sendable {
        /// The repository names no signers.
        case open
        case trusted(String)
        case refused(String)

        var isRefused: Bool {
            if case .refused = self { return true }
            return false
        }
    }

    static let folder = "Trust"
    static let sshSigners = "Trust/allowed_signers"
    static let gpgKeys = "Trust/gpg"
    /// Unverified versions of `Trust/` followed back before giving up (each one a commit
    /// someone pushed; not a limit on history).
    static let maximumUnverifiedVersions = 64

    /// Whether nothing is checked: no `Trust/` at `commit`, no root pinned on this machine, and
    /// none on the first-parent line (deleting `Trust/` does not turn checking off, here or on a
    /// machine that never saw it).
    static func isOpen(repository: OpsRepository, state: StateDirectory, at commit: ObjectID) async throws -> Bool {
        guard try await repository.git.entryID(at: folder, in: commit) == nil, pins(state).isEmpty else { return false }
        return try await TrustCheck(repository: repository, state: state, resolver: .standard()).takeRoot(at: commit) == nil
    }

    /// Whether `commit` counts (an approval's commit): Slipway's own, or signed by a key of the
    /// newest `Trust/` this machine accepted.
    func verify(_ commit: ObjectID) async throws -> Verdict {
        if try await Self.isOpen(repository: repository, state: state, at: try await repository.tip()) { return .open }
        let who = try await describe(commit)
        if state.isOwnCommit(commit) { return .trusted("made by Slipway on this machine") }
        guard let keys = TrustLedger.load(state)?.keys ?? Self.pins(state).last else {
            return .refused("\(who): this machine has not judged \(Self.folder)/ yet")
        }
        return try await verifySignature(of: commit, who: who, against: keys, note: "")
    }

    /// `abc1234 by Name <email>`, how refusals name a commit.
    func describe(_ commit: ObjectID) async throws -> String {
        let info = try await repository.git.commitInfo(commit)
        return "\(commit.short) by \(info.authorName) <\(info.authorEmail)>"
    }

    /// Trust on first use (README, "Security model"): a machine with no root takes the oldest
    /// version of `Trust/` on the branch's first-parent line, however far back, so a `Trust/`
    /// deleted and made anew later cannot become the root.
    /// Remembers (`<state>/trust/absent-through`) the last commit whose history has none, so the
    /// next look walks only the commits since: history does not change.
    func takeRoot(at tip: ObjectID) async throws -> ObjectID? {
        let file = state.root.appendingPathComponent("trust").appendingPathComponent("absent-through")
        let absent = (try? String(contentsOf: file, encoding: .utf8)).flatMap { ObjectID(hex: $0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let oldest = try await repository.git.oldestEntry(of: Self.folder, from: tip, absentBefore: absent)
        if oldest == nil, absent != tip, remembers {
            try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try? Data("\(tip.hex)\n".utf8).write(to: file, options: .atomic)
        }
        return oldest?.id
    }

    /// Whether the `Trust/` version `tree` (found at `commit`) counts, and the versions found to
    /// count on the way (oldest first, with the commits that made them): walking back to a
    /// version in `trusted`, each version counts when the commit that made it is signed by a key
    /// of the newest version before it that counts (a merge: of a side whose version is trusted).
    /// A version made by history judged before (`history`) counts only when it is in `trusted`.
    func versionVerdict(_ tree: ObjectID, at commit: ObjectID, trusted: [ObjectID], history: JudgedHistory) async throws
        -> (Verdict, counted: [(tree: ObjectID, commit: ObjectID)]) {
        let git = repository.git
        var pending: [(tree: ObjectID, introduced: ObjectID)] = []
        var current = (tree: tree, at: commit)
        var judge: ObjectID
        walk: while true {
            if trusted.contains(current.tree) { judge = current.tree; break }
            guard pending.count < Self.maximumUnverifiedVersions else {
                return (.refused("\(Self.folder)/ changed \(pending.count) times without reaching a version this machine trusts"), [])
            }
            let introduced = try await git.introducingCommit(of: Self.folder, blob: current.tree, from: current.at)
            if try await history.isOld(Self.folder, current.tree, madeBy: introduced, in: git) {
                return (.refused("\(Self.folder)/ \(current.tree.short) of \(introduced.short) was replaced since (history moved back); change \(Self.folder)/ with a new signed commit"), [])
            }
            pending.append((current.tree, introduced))
            var older: (tree: ObjectID, at: ObjectID)?
            for parent in try await git.commitInfo(introduced).parents {
                guard let version = try await git.entryID(at: Self.folder, in: parent) else { continue }
                if trusted.contains(version) { judge = version; break walk }
                older = older ?? (version, parent)
            }
            // A Trust/ made anew after a stretch without one is judged by the version before the gap;
            // a line that never had a version this machine trusts makes none count.
            if older == nil { older = try await nearestVersion(before: introduced) }
            guard let older else {
                return (.refused("\(Self.folder)/ \(current.tree.short) does not descend from a \(Self.folder)/ this machine trusts"), [])
            }
            current = older
        }
        // From the oldest unverified version forward; one that does not count is passed over.
        var counted: [(tree: ObjectID, commit: ObjectID)] = []
        var verdict = Verdict.trusted("")
        for (tree, introduced) in pending.reversed() {
            verdict = state.isOwnCommit(introduced) ? .trusted("")
                : try await verifySignature(of: introduced, who: try await describe(introduced), against: judge, note: "")
            guard case .trusted = verdict else { continue }
            counted.append((tree, introduced))
            judge = tree
        }
        return (verdict, counted)
    }

    /// The nearest version of `Trust/` on the first-parent line before `commit`, and where it is.
    private func nearestVersion(before commit: ObjectID) async throws -> (tree: ObjectID, at: ObjectID)? {
        var current = try await repository.git.commitInfo(commit).parents.first
        while let at = current {
            if let version = try await repository.git.entryID(at: Self.folder, in: at) { return (version, at) }
            current = try await repository.git.commitInfo(at).parents.first
        }
        return nil
    }

    static func pinFile(_ state: StateDirectory) -> URL { state.root.appendingPathComponent("trust").appendingPathComponent("pinned") }

    /// The `Trust/` versions (tree ids) this machine trusts, its root first.
    static func pins(_ state: StateDirectory) -> [ObjectID] {
        ((try? String(contentsOf: pinFile(state), encoding: .utf8)) ?? "").split(separator: "\n").compactMap { ObjectID(hex: String($0)) }
    }

    static func pin(_ trees: [ObjectID], in state: StateDirectory) {
        var known = pins(state)
        for tree in trees where !known.contains(tree) {
            StateDirectory.append(line: tree.hex, to: pinFile(state))
            known.append(tree)
        }
    }
}

extension StateDirectory {
    /// Notes a manifest change Slipway itself committed (a promotion, a revert, a rollback),
    /// which `TrustCheck` accepts without a signature.
    public func rememberOwnCommit(_ id: ObjectID) {
        Self.append(line: id.hex, to: ownCommitsFile)
    }

    public func isOwnCommit(_ id: ObjectID) -> Bool {
        ((try? String(contentsOf: ownCommitsFile, encoding: .utf8)) ?? "").split(separator: "\n").contains { $0 == id.hex }
    }

    private var ownCommitsFile: URL { root.appendingPathComponent("own-commits") }

    static func append(line: String, to file: URL) {
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        if let handle = try? FileHandle(forWritingTo: file) {
            defer { try? handle.close() }
            _ = try? handle.seekToEnd()
            try? handle.write(contentsOf: Data("\(line)\n".utf8))
        } else {
            try? Data("\(line)\n".utf8).write(to: file)
        }
    }
}
