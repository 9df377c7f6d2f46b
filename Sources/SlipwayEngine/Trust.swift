import Foundation
public import SlipwayGit
import SlipwayManifest
import SlipwayRuntime

/// Who may change what Slipway deploys. An ops repo turns it on by committing
/// `Trust/allowed_signers` (SSH, the format of git's `gpg.ssh.allowedSignersFile`) and/or
/// OpenPGP public keys as `Trust/gpg/*.asc`. From then on a change of what decides what runs
/// (a manifest, an approval, a template) counts only when the commit that made it is signed by
/// one of them, or was made by Slipway on this machine (promotions, reverts, rollbacks).
///
/// The root is pinned per machine (`<state>/trust/pinned`, oldest first): given with
/// `slipway trust pin`, or else the `Trust/` first seen at the branch's tip (trust on first
/// use). A later version of `Trust/` counts only when the commit that made it is signed by a
/// key of a version that counts; a commit is judged by the keys at its parent when they count,
/// and by the newest version that counts otherwise — so history forked before `Trust/`
/// existed, or an unsigned change of `Trust/`, can neither turn checking off nor lock
/// anyone out. A machine with a root refuses everything once `Trust/` is gone.
struct TrustCheck {
    let repository: OpsRepository
    let state: StateDirectory
    let resolver: ExecutableResolver
    /// The commit whose contents are being judged: the branch's tip, or a pushed commit.
    var head: ObjectID? = nil

    enum Verdict: Equatable {
        /// The repository names no signers.
        case open
        case trusted(String)
        case refused(String)
    }

    static let folder = "Trust"
    static let sshSigners = "Trust/allowed_signers"
    static let gpgKeys = "Trust/gpg"
    /// Unverified versions of `Trust/` followed back before giving up (each one a commit
    /// someone pushed; not a limit on history).
    static let maximumUnverifiedVersions = 64

    /// Whether nothing is checked: no `Trust/` at `commit` and no root pinned on this machine.
    static func isOpen(repository: OpsRepository, state: StateDirectory, at commit: ObjectID) async throws -> Bool {
        try await repository.git.entryID(at: folder, in: commit) == nil && pins(state).isEmpty
    }

    /// Whether `commit` may change what is deployed.
    func verify(_ commit: ObjectID) async throws -> Verdict {
        let git = repository.git
        let info = try await git.commitInfo(commit)
        let who = "\(commit.short) by \(info.authorName) <\(info.authorEmail)>"
        let head = if let head = self.head { head } else { try await repository.tip() }
        var pinned = Self.pins(state)
        guard let headTrust = try await git.entryID(at: Self.folder, in: head) else {
            guard let root = pinned.first else { return .open }
            return .refused("\(who): \(Self.folder)/ is gone, but this machine deploys signed changes only (it trusts \(Self.folder)/ \(root.prefix(7))); restore it")
        }
        if pinned.isEmpty {
            pinned = [try await takeRoot(headTrust, at: head)]
        }
        var judge = pinned[pinned.count - 1]
        var note = ""
        if let parent = info.parents.first, let parentTrust = try await git.entryID(at: Self.folder, in: parent) {
            switch try await versionVerdict(parentTrust, at: parent) {
            case .open, .trusted: judge = parentTrust.hex
            case .refused(let why): note = " (its parent's \(Self.folder)/ does not count — \(Self.folder)/ was changed without a trusted signature: \(why); the last trusted \(Self.folder)/ judged it)"
            }
        } else if info.parents.first != nil {
            note = " (made on history without \(Self.folder)/; the last trusted \(Self.folder)/ judged it)"
        }
        if state.isOwnCommit(commit) { return .trusted("made by Slipway on this machine") }
        return try await verifySignature(of: commit, who: who, against: judge, note: note)
    }

    /// Trust on first use (README, "Security model"): a machine with no root takes the first
    /// version of `Trust/` in the branch's first-parent history; every later version must then
    /// be made by a key of the one before it.
    func takeRoot(_ tree: ObjectID, at commit: ObjectID) async throws -> String {
        let git = repository.git
        var version = (tree: tree, at: commit)
        for _ in 0..<Self.maximumUnverifiedVersions {
            let introduced = try await git.introducingCommit(of: Self.folder, blob: version.tree, from: version.at)
            guard let parent = try await git.commitInfo(introduced).parents.first,
                  let older = try await git.entryID(at: Self.folder, in: parent) else { break }
            version = (older, parent)
        }
        pin(version.tree.hex)
        return version.tree.hex
    }

    /// Whether the `Trust/` version `tree` (found at `commit`) counts: pinned, or made by a commit
    /// signed by a key of a version that counts. A version that counts is added to the pins.
    private func versionVerdict(_ tree: ObjectID, at commit: ObjectID) async throws -> Verdict {
        let git = repository.git
        var pending: [(tree: ObjectID, introduced: ObjectID)] = []
        var current = (tree: tree, at: commit)
        var judge: String?
        while true {
            let pinned = Self.pins(state)
            if pinned.contains(current.tree.hex) { judge = current.tree.hex; break }
            guard pending.count < Self.maximumUnverifiedVersions else {
                return .refused("\(Self.folder)/ changed \(pending.count) times without reaching a version this machine trusts")
            }
            let introduced = try await git.introducingCommit(of: Self.folder, blob: current.tree, from: current.at)
            pending.append((current.tree, introduced))
            guard let parent = try await git.commitInfo(introduced).parents.first,
                  let older = try await git.entryID(at: Self.folder, in: parent) else {
                judge = pinned.last  // a Trust/ made anew on history without one: only the keys that count may make it
                break
            }
            current = (older, parent)
        }
        // From the oldest unverified version forward: each must be made by a key of the one before.
        guard var keys = judge else { return .refused("no version of \(Self.folder)/ is trusted on this machine") }
        for (tree, introduced) in pending.reversed() {
            let info = try await git.commitInfo(introduced)
            let who = "\(introduced.short) by \(info.authorName) <\(info.authorEmail)>"
            if !state.isOwnCommit(introduced), case .refused(let why) = try await verifySignature(of: introduced, who: who, against: keys, note: "") {
                return .refused(why)
            }
            pin(tree.hex)
            keys = tree.hex
        }
        return .trusted("")
    }

    /// Checks the signature of `commit` against the keys of the `Trust/` version `keys` (a tree id).
    private func verifySignature(of commit: ObjectID, who: String, against keys: String, note: String) async throws -> Verdict {
        guard let tree = ObjectID(hex: keys) else { return .refused("\(who): no trusted \(Self.folder)/") }
        guard let signature = try await repository.git.signature(of: commit) else {
            return .refused("\(who) is not signed; \(Self.folder)/ requires a signature by an allowed signer\(note)")
        }
        let verdict = signature.isSSH ? try await verifySSH(signature, keys: tree, who: who) : try await verifyGPG(signature, keys: tree, who: who)
        if case .refused(let why) = verdict { return .refused(why + note) }
        return verdict
    }

    // MARK: SSH

    private func verifySSH(_ signature: CommitSignature, keys: ObjectID, who: String) async throws -> Verdict {
        guard let signers = try await file("allowed_signers", in: keys) else {
            return .refused("\(who) is signed with SSH, but \(Self.sshSigners) lists no SSH signers")
        }
        guard let key = SSHSignature.publicKey(in: signature.signature) else {
            return .refused("\(who): the SSH signature is unreadable")
        }
        let principals = AllowedSigners.principals(of: key, in: String(decoding: signers, as: UTF8.self))
        guard let principal = principals.first else {
            return .refused("\(who) is signed with an SSH key that \(Self.sshSigners) does not list (\(try await fingerprint(of: key)))")
        }
        let result = try await tool("ssh-keygen", ["-Y", "verify", "-f", "{signers}", "-I", principal, "-n", "git", "-s", "{signature}"],
                                    files: ["signers": signers, "signature": signature.signature, "input": signature.signedData])
        guard result.status == 0 else {
            return .refused("\(who): the SSH signature of \(principal) does not verify (\(result.output.split(separator: "\n").last ?? ""))")
        }
        return .trusted("signed by \(principal) (SSH)")
    }

    // MARK: OpenPGP

    private func verifyGPG(_ signature: CommitSignature, keys: ObjectID, who: String) async throws -> Verdict {
        var keyring = Data()
        let folder = try await repository.git.treeEntries(keys).first { $0.name == "gpg" && !$0.isBlob }
        for entry in try await folder.asyncMap({ try await repository.git.treeEntries($0.id) }) ?? [] where entry.isBlob && entry.name.hasSuffix(".asc") {
            keyring.append(Armor.decode(try await repository.git.readBlob(entry.id, maximumBytes: 1 << 20) ?? Data()) ?? Data())
        }
        guard !keyring.isEmpty else {
            return .refused("\(who) is signed with OpenPGP, but \(Self.gpgKeys)/ holds no keys")
        }
        let result = try await tool("gpgv", ["--keyring", "{keyring}", "--status-fd", "1", "{signature}", "{data}"],
                                    files: ["keyring": keyring, "signature": signature.signature, "data": signature.signedData])
        let status = result.output.split(separator: "\n")
        guard result.status == 0, let good = status.first(where: { $0.hasPrefix("[GNUPG:] GOODSIG ") }) else {
            let why = status.first { $0.hasPrefix("[GNUPG:] NO_PUBKEY") || $0.hasPrefix("[GNUPG:] BADSIG") || $0.hasPrefix("[GNUPG:] ERRSIG") }
            return .refused("\(who) is signed with an OpenPGP key that \(Self.gpgKeys)/ does not hold, or the signature is bad (\(why.map { String($0.dropFirst(9)) } ?? "gpgv exit \(result.status)"))")
        }
        let fields = good.split(separator: " ", maxSplits: 3)  // [GNUPG:] GOODSIG <key id> <user id>
        return .trusted("signed by \(fields.count > 3 ? fields[3] : "?") (OpenPGP key \(fields.count > 2 ? fields[2] : "?"))")
    }

    // MARK: Helpers

    /// A file directly in the `Trust/` version `keys` (at most 1 MiB).
    private func file(_ name: String, in keys: ObjectID) async throws -> Data? {
        guard let entry = try await repository.git.treeEntries(keys).first(where: { $0.name == name && $0.isBlob }) else { return nil }
        return try await repository.git.readBlob(entry.id, maximumBytes: 1 << 20)
    }

    /// The signers a `Trust/` version names: `principal (SHA256:…)` per SSH key, `gpg/<file>` per OpenPGP key file.
    func signers(in keys: ObjectID) async throws -> [String] {
        var signers: [String] = []
        if let text = try await file("allowed_signers", in: keys) {
            for line in String(decoding: text, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
                let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                guard let type = fields.firstIndex(where: { $0.hasPrefix("ssh-") || $0.hasPrefix("ecdsa-") || $0.hasPrefix("sk-") }), type + 1 < fields.count else { continue }
                signers.append("\(fields[0]) (\(try await fingerprint(of: fields[type + 1])))")
            }
        }
        if let folder = try await repository.git.treeEntries(keys).first(where: { $0.name == "gpg" && !$0.isBlob }) {
            signers += try await repository.git.treeEntries(folder.id).filter { $0.isBlob && $0.name.hasSuffix(".asc") }.map { "gpg/\($0.name)" }
        }
        return signers
    }

    /// `SHA256:…` of an SSH public key (base64 as allowed_signers writes it), as `ssh-keygen -l` shows it.
    private func fingerprint(of key: String) async throws -> String {
        let type = SSHSignature.keyType(of: key) ?? "ssh-ed25519"
        let result = try await tool("ssh-keygen", ["-l", "-f", "{key}"], files: ["key": Data("\(type) \(key)\n".utf8)])
        return result.output.split(separator: " ").first { $0.hasPrefix("SHA256:") }.map(String.init) ?? "an unreadable key"
    }

    /// Runs a verification tool with `files` written to a private folder in the state
    /// directory (`{name}` in the arguments is the file's path; `input` is stdin).
    private func tool(_ name: String, _ arguments: [String], files: [String: Data]) async throws -> (status: Int32, output: String) {
        guard let executable = resolver.resolve(name, in: state.root) else {
            throw DeploymentFailure(reason: "\(name) is needed to check signatures and was not found (install openssh-client and gpgv)")
        }
        let folder = state.root.appendingPathComponent("trust").appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var paths: [String: String] = [:]
        for (file, data) in files {
            let url = folder.appendingPathComponent(file)
            try data.write(to: url)
            paths[file] = url.path
        }
        let output = folder.appendingPathComponent("output")
        let spec = LaunchSpec(arguments: [name] + arguments.map { Placeholders.substitute($0, paths) },
                              environment: ["PATH": "/usr/bin:/bin", "LANG": "C"], workingDirectory: folder, logFile: output,
                              input: paths["input"].map { URL(fileURLWithPath: $0) })
        let result = try await ProcessControl.output(of: spec, executable: executable, timeout: .seconds(30))
        return (result.status ?? -1, result.text)
    }

    static func pinFile(_ state: StateDirectory) -> URL { state.root.appendingPathComponent("trust").appendingPathComponent("pinned") }

    /// The `Trust/` versions (tree ids) this machine trusts, its root first.
    static func pins(_ state: StateDirectory) -> [String] {
        ((try? String(contentsOf: pinFile(state), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init).filter { ObjectID(hex: $0) != nil }
    }

    private func pin(_ tree: String) {
        guard !Self.pins(state).contains(tree) else { return }
        StateDirectory.append(line: tree, to: Self.pinFile(state))
    }
}

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
        if !pins.isEmpty, !pins.contains(tree.hex) {
            guard replace else {
                throw EngineError("this machine trusts \(TrustCheck.folder)/ \(pins[0].prefix(7)) already; --replace makes \(tree.short) its only root")
            }
        }
        if !pins.contains(tree.hex) || pins.count > 1 && replace {
            try FileManager.default.createDirectory(at: TrustCheck.pinFile(state).deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data("\(tree.hex)\n".utf8).write(to: TrustCheck.pinFile(state), options: .atomic)
        }
        return try await trustVersion(tree, state: state)
    }

    /// The versions of `Trust/` this machine trusts, its root first.
    public func trustedVersions(state: StateDirectory) async throws -> [TrustVersion] {
        var versions: [TrustVersion] = []
        for pin in TrustCheck.pins(state) { if let tree = ObjectID(hex: pin) { versions.append(try await trustVersion(tree, state: state)) } }
        return versions
    }

    private func trustVersion(_ tree: ObjectID, state: StateDirectory) async throws -> TrustVersion {
        let check = TrustCheck(repository: self, state: state, resolver: .standard())
        return TrustVersion(tree: tree.hex, signers: try await check.signers(in: tree))
    }

    /// What decides what runs or what Slipway commits: the folders whose changes must be signed
    /// under `Trust/` (records and status files are Slipway's documentation, not read back).
    public static let trustedFolders = ["Environments", "Trust", "Templates", "Approvals"]

    /// For a push of `new`: every commit it brings (side branches of merges included) that
    /// changes a trusted folder and would not count under the ops repo's `Trust/`, with the
    /// reason. Empty when all pass or the repo names no signers.
    public func unsignedChanges(to new: ObjectID, state: StateDirectory) async throws -> [String] {
        var check = TrustCheck(repository: self, state: state, resolver: .standard())
        check.head = new
        if TrustCheck.pins(state).isEmpty, let trust = try await git.entryID(at: TrustCheck.folder, in: new) {
            _ = try await check.takeRoot(trust, at: new)
        }
        var refusals: [String] = []
        for commit in try await git.newCommits(new) {
            let parent = try await git.commitInfo(commit).parents.first
            var changed = false
            for folder in Self.trustedFolders where !changed {
                let before = try await parent.asyncMap { try await git.entryID(at: folder, in: $0) } ?? nil
                changed = try await git.entryID(at: folder, in: commit) != before
            }
            if changed, try await !createsRoot(commit, parent: parent, state: state), case .refused(let reason) = try await check.verify(commit) {
                refusals.append(reason)
            }
        }
        return refusals.reversed()
    }

    /// Whether `commit` only creates the `Trust/` this machine took as its root (on first use,
    /// or pinned): that commit can be signed by no key that counts yet.
    private func createsRoot(_ commit: ObjectID, parent: ObjectID?, state: StateDirectory) async throws -> Bool {
        guard let root = TrustCheck.pins(state).first, try await git.entryID(at: TrustCheck.folder, in: commit)?.hex == root,
              try await parent.asyncMap({ try await git.entryID(at: TrustCheck.folder, in: $0) }) ?? nil == nil else { return false }
        for folder in Self.trustedFolders where folder != TrustCheck.folder {
            let before = try await parent.asyncMap { try await git.entryID(at: folder, in: $0) } ?? nil
            if try await git.entryID(at: folder, in: commit) != before { return false }
        }
        return true
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

/// The public key inside an SSH signature (`-----BEGIN SSH SIGNATURE-----`, PROTOCOL.sshsig:
/// "SSHSIG", version, then the public key as an SSH string), base64 as allowed_signers writes it.
enum SSHSignature {
    static func publicKey(in armored: Data) -> String? {
        guard let blob = Armor.decode(armored), blob.count >= 14, blob.prefix(6) == Data("SSHSIG".utf8) else { return nil }
        let bytes = [UInt8](blob)
        let length = bytes[10...13].reduce(0) { $0 << 8 | Int($1) }  // after the magic (6) and version (4)
        guard 14 + length <= bytes.count else { return nil }
        return Data(bytes[14..<(14 + length)]).base64EncodedString()
    }

    /// The key type an SSH public key names first (`ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`…).
    static func keyType(of key: String) -> String? {
        guard let blob = Data(base64Encoded: key), blob.count >= 4 else { return nil }
        let bytes = [UInt8](blob)
        let length = bytes[0..<4].reduce(0) { $0 << 8 | Int($1) }
        guard length > 0, length <= 64, 4 + length <= bytes.count,
              let type = String(bytes: bytes[4..<(4 + length)], encoding: .ascii), type.allSatisfy({ $0.isLetter || $0.isNumber || "-@.".contains($0) }) else { return nil }
        return type
    }
}

/// Reads `allowed_signers` lines: `principals [options] keytype base64-key [comment]`.
enum AllowedSigners {
    static func principals(of key: String, in text: String) -> [String] {
        text.split(separator: "\n").flatMap { line -> [String] in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let first = fields.first, !first.hasPrefix("#"),
                  let type = fields.firstIndex(where: { $0.hasPrefix("ssh-") || $0.hasPrefix("ecdsa-") || $0.hasPrefix("sk-") }),
                  type + 1 < fields.count, fields[type + 1] == key else { return [] }
            return first.split(separator: ",").map(String.init)
        }
    }
}

/// ASCII armor (`-----BEGIN …-----`, headers, base64, `=CRC` line, `-----END …-----`) to bytes.
enum Armor {
    static func decode(_ data: Data) -> Data? {
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard let begin = lines.firstIndex(where: { $0.hasPrefix("-----BEGIN ") }),
              let end = lines[begin...].firstIndex(where: { $0.hasPrefix("-----END ") }) else { return nil }
        var body = Array(lines[(begin + 1)..<end])
        if let blank = body.firstIndex(of: ""), body[..<blank].allSatisfy({ $0.contains(": ") }) { body.removeFirst(blank + 1) }
        let base64 = body.filter { !$0.hasPrefix("=") && !$0.isEmpty }.joined()
        return Data(base64Encoded: base64)
    }
}
