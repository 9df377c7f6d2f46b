import Foundation
public import SlipwayGit
import SlipwayRecords
public import SlipwayCore

/// What this machine accepted from the repository under `Trust/` (README, "Security model"),
/// kept in `<state>/trust/ledger.json`: the tip it judged last, the `Trust/` version that judges
/// new commits, and per trusted file the content accepted, or refused with the commit that made
/// it. Content at a later tip that is neither comes from commits not judged yet, which must be
/// signed — or from history judged before, which is how a rewind shows (a force-push back, a
/// `merge -s ours` of an old commit) and is refused: old signed content does not count twice.
struct TrustLedger: Codable, Equatable, Sendable {
    struct Entry: Codable, Equatable, Sendable {
        /// The content; nil for a manifest's deletion (judged like content: see `TrustCheck.judge`).
        var blob: ObjectID?
        var why: String
        /// The commit that brought the content: for a refusal, the one that made it (a new commit
        /// with it is judged anew); for content accepted, the one that made it count.
        var commit: ObjectID? = nil
    }

    /// The commit that stands for everything judged: the last tip while the branch only moved
    /// forward; after it moved elsewhere, a mark joining what was judged before and the branch's
    /// current line (`line`), so that no history judged is ever forgotten.
    var tip: ObjectID
    /// With a mark as `tip`: the branch's line it joins (its second parent).
    var line: ObjectID? = nil
    /// The first tip this machine judged: history before it counts as judged (`JudgedHistory`).
    var first: ObjectID? = nil
    var keys: ObjectID?
    var accepted: [String: Entry] = [:]
    var refused: [String: Entry] = [:]

    /// Keeps the judged tip (and so all history judged before) in the repository, whatever the
    /// branch does: the rewind check needs those commits.
    static let keepRef = "refs/slipway/judged"

    static func file(_ state: StateDirectory) -> URL { state.root.appendingPathComponent("trust").appendingPathComponent("ledger.json") }

    /// The files whose content at the tip judged last does not count.
    static func untrusted(_ state: StateDirectory) -> Set<String> { Set(load(state)?.refused.keys.map { $0 } ?? []) }

    static func load(_ state: StateDirectory) -> TrustLedger? {
        guard let data = try? Data(contentsOf: file(state)) else { return nil }
        return try? JSONDecoder().decode(TrustLedger.self, from: data)
    }

    func save(_ state: StateDirectory) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try FileManager.default.createDirectory(at: Self.file(state).deletingLastPathComponent(), withIntermediateDirectories: true)
        try encoder.encode(self).write(to: Self.file(state), options: .atomic)
    }
}

/// How `Trust/` judged the trusted files at one commit.
public struct TrustVerdicts: Sendable {
    let open: Bool
    let byPath: [String: TrustCheck.Verdict]
    /// Per file, the commit that brought its content (for content accepted: the one that made it count).
    var commits: [String: ObjectID] = [:]

    /// The files whose content does not count (what `TrustLedger.untrusted` reads back later).
    var untrusted: Set<String> {
        Set(byPath.compactMap { path, verdict in if case .refused = verdict { path } else { nil } })
    }

    func verdict(_ path: String) -> TrustCheck.Verdict {
        open ? .open : byPath[path] ?? .refused("\(path) was not judged")
    }
}

extension TrustCheck {
    /// One judgement: the verdicts, and the ledger and pins to keep (unchanged when nothing was judged).
    struct Judgement {
        var verdicts: TrustVerdicts
        var ledger: TrustLedger?
        var pins: [ObjectID]
        /// New lines of `accepted.log`: content accepted in this judgement, by digest.
        var accepted: [String] = []
        /// The commits that made versions of `Trust/` found to count (signed by a key of the one before).
        var counted: [ObjectID] = []
    }

    /// The files whose content decides what runs or what Slipway commits: every file in
    /// `Environments/`, the templates Slipway reads and the notifications of every environment.
    func trustedFiles(at tip: ObjectID) async throws -> [String: ObjectID] {
        var files: [String: ObjectID] = [:]
        for entry in try await repository.git.listDirectory("Environments", at: tip) ?? [] where entry.isBlob {
            files["Environments/\(entry.name)"] = entry.id
        }
        for file in try await repository.templateFiles(at: tip) { files["Templates/\(file.name)"] = file.blob }
        if let blob = try await repository.git.blobID(at: OpsRepository.sharedNotify, in: tip) { files[OpsRepository.sharedNotify] = blob }
        return files
    }

    /// Judges every trusted file at `tip` against what was accepted before (`ledger`, nil on a
    /// machine that judged nothing yet) and this machine's `pins`: content accepted before
    /// stands; content made by commits not judged yet counts when Slipway made it here or a key
    /// of the newest `Trust/` that counts signed it; other content from history judged before is
    /// refused.
    func judge(at tip: ObjectID, ledger: TrustLedger?, pins: [ObjectID], acceptedBefore: @escaping @Sendable () -> Set<String> = { [] }) async throws -> Judgement {
        let git = repository.git
        guard let tipTrust = try await git.entryID(at: Self.folder, in: tip) else {
            var pins = pins
            if ledger?.keys == nil, pins.isEmpty, let root = try await takeRoot(at: tip) { pins = [root] }
            guard let root = ledger?.keys ?? pins.first else {
                return Judgement(verdicts: TrustVerdicts(open: true, byPath: [:]), ledger: ledger, pins: pins)
            }
            let why = "\(Self.folder)/ is gone, but this machine deploys signed changes only (it trusts \(Self.folder)/ \(root.short)); restore it"
            return Judgement(verdicts: TrustVerdicts(open: false, byPath: try await trustedFiles(at: tip).mapValues { _ in .refused(why) }), ledger: ledger, pins: pins)
        }
        let files = try await trustedFiles(at: tip)
        let judged = try await ledger.asyncMap { try await git.contains(tipOf: $0) } ?? nil
        var pins = pins
        if pins.isEmpty, ledger?.keys == nil, let root = try await takeRoot(at: tip) { pins = [root] }
        let forward = try await judged.asyncMap { try await git.isAncestor($0, of: tip) } ?? true
        var next = TrustLedger(tip: tip, first: ledger.map { $0.first ?? $0.tip } ?? tip, keys: ledger?.keys ?? pins.last)
        if let judged, !forward, remembers { (next.tip, next.line) = try await joining(judged, line: ledger?.line, to: tip) }
        let history = JudgedHistory(kind: judged.map { judged in
            remembers ? .machine(first: ledger?.first ?? judged, accepted: acceptedBefore) : .branch(base: judged)
        } ?? .none)
        // Trust/ first: the newest version that counts judges everything else.
        var counted: [(tree: ObjectID, commit: ObjectID)] = []
        let trustVerdict = try await settle(Self.folder, tipTrust, at: tip, ledger: ledger, judged: forward ? judged : nil, history: history) { _ in
            // Without a ledger, the newest pin: an older one may hold keys removed since.
            let (verdict, versions) = try await versionVerdict(tipTrust, at: tip, trusted: [ledger?.keys ?? pins.last].compactMap { $0 }, history: history)
            counted = versions
            return verdict
        }
        pins += counted.map(\.tree).filter { !pins.contains($0) }
        next.keys = counted.last?.tree ?? next.keys
        var note = ""
        switch trustVerdict.verdict {
        case .trusted: next.keys = tipTrust
        case .refused(let why): note = " (\(Self.folder)/ was changed without a trusted signature, so its version at the tip does not count: \(why); the last trusted \(Self.folder)/ judged it)"
        case .open: break
        }
        next.record(Self.folder, blob: tipTrust, trustVerdict)
        var accepted = try await acceptedLine(Self.folder, tipTrust, trustVerdict).map { [$0] } ?? []
        guard let keys = next.keys else { throw EngineError("no version of \(Self.folder)/ is trusted on this machine") }
        var verdicts: [String: Verdict] = [Self.folder: trustVerdict.verdict]
        var commits: [String: ObjectID] = [:]
        for (path, blob) in files.map({ ($0.key, Optional($0.value)) }) + Self.deletedManifests(ledger, present: files).map({ ($0, ObjectID?.none) }) {
            let settled = try await settle(path, blob, at: tip, ledger: ledger, judged: forward ? judged : nil, history: history) { introduced in
                if state.isOwnCommit(introduced) { return .trusted("made by Slipway on this machine") }
                if let merged = try await signedMerge(bringing: path, blob, from: tip, to: introduced, judged: judged, keys: keys) { return merged }
                return try await verifySignature(of: introduced, who: try await describe(introduced), against: keys,
                                                 note: note.isEmpty ? try await builtWithoutTrust(introduced) : note)
            }
            next.record(path, blob: blob, settled)
            verdicts[path] = settled.verdict
            commits[path] = settled.commit
            if let line = try await acceptedLine(path, blob, settled) { accepted.append(line) }
        }
        return Judgement(verdicts: TrustVerdicts(open: false, byPath: verdicts, commits: commits), ledger: next, pins: pins,
                         accepted: accepted, counted: counted.map(\.commit))
    }

    /// Manifests judged before that are gone at the tip: their deletion is judged like content
    /// (the commit that deleted it must count), or an unsigned push could stop what runs.
    static func deletedManifests(_ ledger: TrustLedger?, present files: [String: ObjectID]) -> [String] {
        let judgedBefore = ledger.map { Array($0.accepted.keys) + Array($0.refused.keys) } ?? []
        return Set(judgedBefore.filter { $0.hasPrefix("Environments/") && files[$0] == nil }).sorted()
    }

    /// The `accepted.log` line of content accepted from a commit.
    private func acceptedLine(_ path: String, _ blob: ObjectID?, _ settled: (verdict: Verdict, commit: ObjectID?)) async throws -> String? {
        guard case .trusted = settled.verdict, let commit = settled.commit else { return nil }
        return JudgedHistory.entry(digest: try await repository.git.signedContentDigest(of: commit), path: path, blob: blob)
    }

    /// A merge on the way from `tip` to the commit that made the content, made after `judged`,
    /// that brought the content in from a side other than its first parent and is signed by a
    /// key that counts: the merger vouches for what they merged (a team that signs merges, not
    /// each commit of a branch). A merge whose first parent had the content already vouches for
    /// nothing. At most `maximumVouchingMerges` are checked.
    private func signedMerge(bringing path: String, _ blob: ObjectID?, from tip: ObjectID, to introduced: ObjectID, judged: ObjectID?,
                             keys: ObjectID) async throws -> Verdict? {
        let git = repository.git
        var current = tip, checked = 0
        while current != introduced {
            let parents = try await git.commitInfo(current).parents
            guard let next = try await parents.asyncFirst(where: { try await git.entryID(at: path, in: $0) == blob }) else { return nil }
            if next != parents.first, checked < Self.maximumVouchingMerges,
               try await !(judged.asyncMap { try await git.isAncestor(current, of: $0) } ?? false) {
                checked += 1
                if case .trusted(let signer) = try await verifySignature(of: current, who: try await describe(current), against: keys, note: "") {
                    return .trusted("merged in \(current.short), \(signer)")
                }
            }
            current = next
        }
        return nil
    }

    /// Merges checked for a signature per file (each costs a verification): a bound on what
    /// pushed history can make one judgement spend.
    static let maximumVouchingMerges = 16

    /// What stands for everything judged once the branch moved off `judged`: `judged` itself when
    /// the branch went back into it; otherwise a mark joining the history judged before with
    /// `tip` (the mark's first parent stays, its line moves forward with the branch).
    private func joining(_ judged: ObjectID, line: ObjectID?, to tip: ObjectID) async throws -> (tip: ObjectID, line: ObjectID?) {
        let git = repository.git
        if try await git.isAncestor(tip, of: judged) { return (judged, line) }
        var history = judged
        if let line, try await git.contains(line), try await git.isAncestor(line, of: tip),
           let before = try await git.commitInfo(judged).parents.first {
            history = before  // the branch went on along the mark's line: only that line moves
        }
        let mark = try await git.mark(joining: [history, tip], message: "slipway: judged\n\nWhat this machine judged under Trust/ (refs/slipway/judged).\n")
        return (mark, tip)
    }

    /// One file's verdict by the ledger's rules, with the commit that brought its content: the
    /// one that made it count, for content accepted. `forwardFrom` is the judged tip when `tip`
    /// descends from it (content unchanged since is as it was).
    private func settle(_ path: String, _ blob: ObjectID?, at tip: ObjectID, ledger: TrustLedger?, judged forwardFrom: ObjectID?, history: JudgedHistory,
                        check: (ObjectID) async throws -> Verdict) async throws -> (verdict: Verdict, commit: ObjectID?) {
        let git = repository.git
        let accepted = ledger?.accepted[path].flatMap { $0.blob == blob ? $0 : nil }
        // Unchanged since the judged tip, which the branch only moved forward from: as it was, without a walk.
        if try await forwardFrom.asyncMap({ try await git.entryID(at: path, in: $0) == blob }) ?? false {
            if let accepted { return (.trusted(accepted.why), accepted.commit) }
            if let refused = ledger?.refused[path], refused.blob == blob { return (.refused(refused.why), refused.commit) }
        }
        let introduced = try await git.introducingCommit(of: path, blob: blob, from: tip)
        let old = try await history.isOld(path, blob, madeBy: introduced, in: git)
        if let accepted {
            // The same content stays accepted; a new commit that brings it again and counts (a signed revert) becomes what brought it.
            if accepted.commit != introduced, !old, case .trusted(let why) = try await check(introduced) { return (.trusted(why), introduced) }
            return (.trusted(accepted.why), accepted.commit ?? introduced)
        }
        if let entry = ledger?.refused[path], entry.blob == blob, entry.commit == introduced { return (.refused(entry.why), introduced) }
        if old {
            return (.refused("\(path) at \(tip.short) is the content of \(introduced.short), which this machine judged before and which was replaced since (history moved back: a force-push or a merge that keeps an old side); to go back, commit the old content again with a signature (git revert -S) or run slipway rollback"), introduced)
        }
        return (try await check(introduced), introduced)
    }

    /// The note for a commit made on history without `Trust/` (judged by the newest keys that count).
    func builtWithoutTrust(_ commit: ObjectID) async throws -> String {
        guard let parent = try await repository.git.commitInfo(commit).parents.first,
              try await repository.git.entryID(at: Self.folder, in: parent) == nil else { return "" }
        return " (made on history without \(Self.folder)/; the last trusted \(Self.folder)/ judged it)"
    }

    /// Judges `tip` with this machine's ledger and pins, and keeps the result.
    func judgeAndKeep(at tip: ObjectID) async throws -> TrustVerdicts {
        let ledger = TrustLedger.load(state), pins = Self.pins(state)
        let judgement = try await judge(at: tip, ledger: ledger, pins: pins, acceptedBefore: { JudgedHistory.load(state) })
        Self.pin(judgement.pins, in: state)
        let known = judgement.accepted.isEmpty ? [] : JudgedHistory.load(state)
        for line in judgement.accepted where !known.contains(line) { StateDirectory.append(line: line, to: JudgedHistory.file(state)) }
        if let next = judgement.ledger, next != ledger {
            // The ref first: a ledger naming a commit nothing keeps would lose what it judged to git gc.
            try await repository.git.keep(next.tip, as: TrustLedger.keepRef)
            try next.save(state)
        }
        return judgement.verdicts
    }

    /// Whether `blob` at `path` is what this machine accepted when it last judged the branch
    /// (a promotion copies only that; a template is used only then).
    func acceptance(of path: String, blob: ObjectID) async throws -> Verdict {
        if try await Self.isOpen(repository: repository, state: state, at: try await repository.tip()) { return .open }
        guard let ledger = TrustLedger.load(state) else { return .refused("this machine has not judged \(path) yet") }
        if let entry = ledger.accepted[path], entry.blob == blob { return .trusted(entry.why) }
        if let entry = ledger.refused[path], entry.blob == blob { return .refused(entry.why) }
        return .refused("\(path) changed since this machine last judged the branch; the next pass judges it")
    }
}

extension TrustLedger {
    mutating func record(_ path: String, blob: ObjectID?, _ settled: (verdict: TrustCheck.Verdict, commit: ObjectID?)) {
        switch settled.verdict {
        case .trusted(let why): accepted[path] = Entry(blob: blob, why: why, commit: settled.commit)
        case .refused(let why): refused[path] = Entry(blob: blob, why: why, commit: settled.commit)
        case .open: break
        }
    }
}

extension GitRepository {
    /// The commit a ledger names, nil when this repository no longer has it.
    func contains(tipOf ledger: TrustLedger) throws -> ObjectID? {
        try contains(ledger.tip) ? ledger.tip : nil
    }
}

extension Engine {
    /// The manifests at `tip`, judged under `Trust/` (the ledger advances to `tip`).
    public func desired(at tip: ObjectID) async throws -> DesiredState {
        let trust = try await TrustCheck(repository: repository, state: configuration.state, resolver: configuration.resolver).judgeAndKeep(at: tip)
        var desired = try await repository.desired(at: tip, untrusted: trust.untrusted)
        desired.trust = trust
        return desired
    }
}
