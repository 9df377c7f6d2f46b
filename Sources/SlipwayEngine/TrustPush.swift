import Foundation
public import SlipwayGit
public import SlipwayCore

/// A version of `Trust/` as `slipway trust` shows it.
public struct TrustVersion: Sendable {
    /// The folder's tree id.
    public let tree: String
    /// `principal (SHA256:…)` per SSH signer, `gpg/<file>` per OpenPGP key file.
    public let signers: [String]
}

extension OpsRepository {
    /// Pins the `Trust/` of `commit` as this machine's root (`slipway trust pin`): what a new
    /// machine should be given rather than take the first `Trust/` it sees. Refuses to replace
    /// a different root unless told to.
    public func pinTrust(at commit: ObjectID, state: StateDirectory, replace: Bool) async throws -> TrustVersion {
        guard let tree = try await git.entryID(at: TrustCheck.folder, in: commit) else {
            throw EngineError("\(commit.short) has no \(TrustCheck.folder)/ folder to pin")
        }
        let pins = TrustCheck.pins(state)
        if !pins.isEmpty, !pins.contains(tree) {
            guard replace else {
                throw EngineError("this machine trusts \(TrustCheck.folder)/ \(pins[0].short) already; --replace makes \(tree.short) its only root")
            }
        }
        if !pins.contains(tree) || pins.count > 1 && replace {
            try FileManager.default.createDirectory(at: TrustCheck.pinFile(state).deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data("\(tree.hex)\n".utf8).write(to: TrustCheck.pinFile(state), options: .atomic)
            if FileManager.default.fileExists(atPath: TrustLedger.file(state).path) {
                try FileManager.default.removeItem(at: TrustLedger.file(state))  // what was accepted under the old root is judged anew
            }
        }
        return try await trustVersion(tree, state: state)
    }

    /// Pins the `Trust/` of `commit` when this machine has no root yet (`hooks install --server`,
    /// and post-receive through `trust pin --if-unpinned`); nil when it has one or `commit` has no `Trust/`.
    public func pinTrustIfUnpinned(at commit: ObjectID, state: StateDirectory) async throws -> TrustVersion? {
        guard TrustCheck.pins(state).isEmpty, try await git.entryID(at: TrustCheck.folder, in: commit) != nil else { return nil }
        return try await pinTrust(at: commit, state: state, replace: false)
    }

    /// The versions of `Trust/` this machine trusts, its root first.
    public func trustedVersions(state: StateDirectory) async throws -> [TrustVersion] {
        var versions: [TrustVersion] = []
        for tree in TrustCheck.pins(state) { versions.append(try await trustVersion(tree, state: state)) }
        return versions
    }

    private func trustVersion(_ tree: ObjectID, state: StateDirectory) async throws -> TrustVersion {
        let check = TrustCheck(repository: self, state: state, resolver: .standard())
        return TrustVersion(tree: tree.hex, signers: try await check.signers(in: tree))
    }

    /// What decides what runs or what Slipway commits: the folders whose changes must be signed
    /// under `Trust/` (records and status files are Slipway's documentation, not read back).
    public static let trustedFolders = ["Environments", "Trust", "Templates", "Approvals", "Notifications"]

    /// Merges in one push the hook checks for a signature that vouches for their other sides.
    static let maximumSignedMerges = 64

    /// For a push of `new` over `old` (the ref's old commit; nil for a new ref): why it does
    /// not count under `Trust/`, empty when it does. The server's current state is what earlier
    /// pushes were checked against, so the newest `Trust/` that counts there judges: every
    /// commit the push brings over `old` (or over the default branch, for a new ref) that changes
    /// a trusted folder must be signed by one of its keys, and with `movesBranch` trusted files
    /// may not go back to content the branch replaced. Nothing is written to the state directory.
    public func unsignedChanges(to new: ObjectID, over old: ObjectID?, movesBranch: Bool, state: StateDirectory) async throws -> [String] {
        var check = TrustCheck(repository: self, state: state, resolver: .standard())
        check.remembers = false
        let pins = TrustCheck.pins(state)
        let base: ObjectID? = if let old { old } else { try await git.resolve(ref: "HEAD") }
        if base == nil, try await git.hasRefs() {
            return ["the server's HEAD names no branch, so a new ref cannot be checked against it: point it at the branch Slipway deploys (git symbolic-ref HEAD refs/heads/main)"]
        }
        if movesBranch, let blocked = try await blockedRecordFolder(at: new) {
            return ["\(blocked) is a file where Slipway keeps a folder of records and status files: nothing could be recorded, so nothing would deploy"]
        }
        let ledger = try await base.asyncMap { try await check.ledger(acceptingAllAt: $0) }
        let judgement = try await check.judge(at: new, ledger: ledger, pins: pins)
        guard !judgement.verdicts.open, let keys = judgement.ledger?.keys ?? pins.last else { return [] }
        var refusals: [String] = []
        if movesBranch {
            if ledger?.accepted[TrustCheck.folder] != nil, try await git.entryID(at: TrustCheck.folder, in: new) == nil {
                refusals.append("\(TrustCheck.folder)/ cannot leave the branch: machines that deploy it refuse everything without it")
            }
            refusals += judgement.verdicts.byPath.sorted { $0.key < $1.key }.compactMap { if case .refused(let why) = $0.value { why } else { nil } }
        }
        let root = base == nil && pins.isEmpty ? try await git.oldestEntry(of: TrustCheck.folder, from: new) : nil
        let commits = try await git.newCommits(new, over: base)
        // A commit that made a Trust/ version found to count was checked against the keys before it (its signer may
        // have removed their own key); one that a signed merge brought in is vouched for by the merger.
        let vouched = Set(judgement.counted).union(try await mergedBySigner(commits, keys: keys, check: check))
        for commit in commits.reversed() {
            guard !vouched.contains(commit), try await changesTrustedFolder(commit) else { continue }
            if let root {
                // Before the first Trust/ (a new repository's first push) nothing was signed; its creation is taken on trust.
                if root.commit == commit {
                    let parents = try await git.commitInfo(commit).parents
                    if try await !parents.asyncContains(where: { try await git.entryID(at: TrustCheck.folder, in: $0) != nil }) { continue }
                } else if try await git.isAncestor(commit, of: root.commit) {
                    continue
                }
            }
            if case .refused(let why) = try await check.verifySignature(of: commit, who: try await check.describe(commit), against: keys,
                                                                         note: try await check.builtWithoutTrust(commit)) {
                refusals.append(why)
            }
        }
        var seen = Set<String>()
        return refusals.filter { seen.insert($0).inserted }
    }

    /// The commits that merges signed by `keys` brought in from their other sides, the merges
    /// included. At most `maximumSignedMerges` merges are checked (each costs a verification).
    private func mergedBySigner(_ commits: [ObjectID], keys: ObjectID, check: TrustCheck) async throws -> Set<ObjectID> {
        var vouched = Set<ObjectID>()
        var checked = 0
        for commit in commits where checked < Self.maximumSignedMerges {
            let parents = try await git.commitInfo(commit).parents
            guard parents.count > 1, let first = parents.first else { continue }
            checked += 1
            guard case .trusted = try await check.verifySignature(of: commit, who: try await check.describe(commit), against: keys, note: "") else { continue }
            vouched.formUnion(try await git.newCommits(commit, over: first))
        }
        return vouched
    }

    /// `Status`, `Deployments` or an environment's folder in it when it is a file (or a link) at `commit`.
    private func blockedRecordFolder(at commit: ObjectID) async throws -> String? {
        for path in ["Status", "Deployments"] where try await git.blobID(at: path, in: commit) != nil { return path }
        let environments = try await git.listDirectory("Deployments", at: commit) ?? []
        return environments.first(where: \.isBlob).map { "Deployments/\($0.name)" }
    }

    /// Whether `commit` makes trusted content: a trusted folder differs from its parent's (is
    /// there at all, for a root commit); for a merge, a file there that no parent has, or one
    /// every parent has that the merge drops. A merge that only combines its sides makes none.
    private func changesTrustedFolder(_ commit: ObjectID) async throws -> Bool {
        let parents = try await git.commitInfo(commit).parents
        for folder in Self.trustedFolders {
            let mine = try await git.entryID(at: folder, in: commit)
            var theirs: [ObjectID?] = []
            for parent in parents { theirs.append(try await git.entryID(at: folder, in: parent)) }
            if parents.isEmpty ? mine != nil : !theirs.contains(mine) {
                if parents.count < 2 { return true }
                if try await mergeMakesContent(folder, commit, parents) { return true }
            }
        }
        return false
    }

    private func mergeMakesContent(_ folder: String, _ merge: ObjectID, _ parents: [ObjectID]) async throws -> Bool {
        let merged = Dictionary(try await git.files(under: folder, at: merge)?.map { ($0.path, $0.id) } ?? [], uniquingKeysWith: { a, _ in a })
        var sides: [[String: ObjectID]] = []
        for parent in parents {
            sides.append(Dictionary(try await git.files(under: folder, at: parent)?.map { ($0.path, $0.id) } ?? [], uniquingKeysWith: { a, _ in a }))
        }
        if merged.contains(where: { path, blob in !sides.contains { $0[path] == blob } }) { return true }
        return sides.first?.keys.contains { path in merged[path] == nil && sides.allSatisfy { $0[path] != nil } } ?? false
    }
}

extension TrustCheck {
    /// A ledger that accepts every trusted file at `commit` as it is: the server's state, which
    /// earlier pushes were checked against. New commits are judged by the newest keys on the
    /// server, the `Trust/` of the branch HEAD names (or this machine's newest pin); a `Trust/`
    /// at `commit` that differs from it is not taken as it is (an old branch keeps no removed key alive).
    func ledger(acceptingAllAt commit: ObjectID) async throws -> TrustLedger {
        let git = repository.git
        let trust = try await git.entryID(at: Self.folder, in: commit)
        let head = try await git.resolve(ref: "HEAD").asyncMap { try await git.entryID(at: Self.folder, in: $0) } ?? nil
        let keys = head ?? trust
        var ledger = TrustLedger(tip: commit, keys: keys ?? Self.pins(state).last)
        var files = try await trustedFiles(at: commit)
        files[Self.folder] = trust == keys ? trust : nil
        for (path, blob) in files { ledger.accepted[path] = TrustLedger.Entry(blob: blob, why: "on the branch before this push") }
        return ledger
    }
}
