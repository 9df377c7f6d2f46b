import Foundation
public import SlipwayGit
import SlipwayManifest
import SlipwayRuntime

/// Who may change what Slipway deploys. An ops repo turns it on by committing
/// `Trust/allowed_signers` (SSH, the format of git's `gpg.ssh.allowedSignersFile`) and/or
/// OpenPGP public keys as `Trust/gpg/*.asc`. From then on a manifest change is deployed only
/// when the commit that made it is signed by one of them (or was made by Slipway on this
/// machine: promotions, reverts, `slipway rollback`).
///
/// The keys that judge a commit are those of its parent, and every change of `Trust/` must
/// itself be signed by a key the previous `Trust/` lists; only its very first version is taken
/// on trust. Once this machine has deployed under trust, removing `Trust/` refuses everything.
struct TrustCheck {
    let repository: OpsRepository
    let state: StateDirectory
    let resolver: ExecutableResolver

    enum Verdict: Equatable {
        /// The repository names no signers.
        case open
        case trusted(String)
        case refused(String)
    }

    static let folder = "Trust"
    static let sshSigners = "Trust/allowed_signers"
    static let gpgKeys = "Trust/gpg"

    /// Whether `commit` may change what is deployed.
    func verify(_ commit: ObjectID) async throws -> Verdict {
        try await verify(commit, depth: 0)
    }

    private func verify(_ commit: ObjectID, depth: Int) async throws -> Verdict {
        let git = repository.git
        let info = try await git.commitInfo(commit)
        let who = "\(commit.short) by \(info.authorName) <\(info.authorEmail)>"
        let anchor = info.parents.first ?? commit
        guard let trustTree = try await git.entryID(at: Self.folder, in: anchor) else {
            if let pinned = pinned.first {
                return .refused("\(who): \(Self.folder)/ is gone, but this machine deploys signed changes only (it trusted \(Self.folder)/ \(pinned.prefix(7))); restore it")
            }
            return .open
        }
        guard depth < 50 else { return .refused("\(who): \(Self.folder)/ changed more than 50 times in a row without a known start; not checked") }
        if let reason = try await anchorProblem(trustTree, at: anchor, depth: depth) {
            return .refused("\(who): \(reason)")
        }
        if state.isOwnCommit(commit) { return .trusted("made by Slipway on this machine") }
        guard let signature = try await git.signature(of: commit) else {
            return .refused("\(who) is not signed; \(Self.folder)/ requires a signature by an allowed signer")
        }
        let verdict = signature.isSSH ? try await verifySSH(signature, at: anchor, who: who) : try await verifyGPG(signature, at: anchor, who: who)
        if case .trusted = verdict { pin(trustTree.hex) }
        return verdict
    }

    /// Why the `Trust/` folder at `commit` cannot be relied on, nil when it can: the commit
    /// that gave it this content must be signed by a key of the folder before it.
    private func anchorProblem(_ tree: ObjectID, at commit: ObjectID, depth: Int) async throws -> String? {
        let git = repository.git
        let introduced = try await git.introducingCommit(of: Self.folder, blob: tree, from: commit)
        let parent = try await git.commitInfo(introduced).parents.first
        if try await parent.asyncMap({ try await git.entryID(at: Self.folder, in: $0) }) ?? nil == nil {
            // The first version of Trust/: taken on trust, unless this machine trusted another one already.
            let pins = pinned
            return pins.isEmpty || pins.contains(tree.hex) ? nil
                : "\(Self.folder)/ was created anew in \(introduced.short) after this machine trusted \(pins[0].prefix(7)); not accepted"
        }
        switch try await verify(introduced, depth: depth + 1) {
        case .open, .trusted: return nil
        case .refused(let why): return "\(Self.folder)/ was changed without a trusted signature (\(why))"
        }
    }

    // MARK: SSH

    private func verifySSH(_ signature: CommitSignature, at anchor: ObjectID, who: String) async throws -> Verdict {
        guard let signers = try await repository.git.readFile(Self.sshSigners, at: anchor) else {
            return .refused("\(who) is signed with SSH, but \(Self.sshSigners) lists no SSH signers")
        }
        guard let key = SSHSignature.publicKey(in: signature.signature) else {
            return .refused("\(who): the SSH signature is unreadable")
        }
        let principals = AllowedSigners.principals(of: key, in: String(decoding: signers, as: UTF8.self))
        guard let principal = principals.first else {
            return .refused("\(who) is signed with an SSH key that \(Self.sshSigners) does not list (\(key.prefix(24))…)")
        }
        let result = try await tool("ssh-keygen", ["-Y", "verify", "-f", "{signers}", "-I", principal, "-n", "git", "-s", "{signature}"],
                                    files: ["signers": signers, "signature": signature.signature, "input": signature.signedData])
        guard result.status == 0 else {
            return .refused("\(who): the SSH signature of \(principal) does not verify (\(result.output.split(separator: "\n").last ?? ""))")
        }
        return .trusted("signed by \(principal) (SSH)")
    }

    // MARK: OpenPGP

    private func verifyGPG(_ signature: CommitSignature, at anchor: ObjectID, who: String) async throws -> Verdict {
        var keyring = Data()
        for entry in try await repository.git.listDirectory(Self.gpgKeys, at: anchor) ?? [] where entry.isBlob && entry.name.hasSuffix(".asc") {
            keyring.append(Armor.decode(try await repository.git.readBlob(entry.id)) ?? Data())
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

    private var pinFile: URL { state.root.appendingPathComponent("trust").appendingPathComponent("pinned") }

    /// `Trust/` folder versions this machine deployed under, oldest first.
    private var pinned: [String] {
        ((try? String(contentsOf: pinFile, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    private func pin(_ tree: String) {
        guard !pinned.contains(tree) else { return }
        StateDirectory.append(line: tree, to: pinFile)
    }
}

extension OpsRepository {
    /// For a push (`old`..`new` on the branch, first parents): every commit that changes
    /// `Environments/` and would not be deployed under the ops repo's `Trust/`, with the reason.
    /// Empty when all pass or the repo names no signers.
    public func unsignedChanges(from old: ObjectID?, to new: ObjectID, state: StateDirectory) async throws -> [String] {
        let check = TrustCheck(repository: self, state: state, resolver: .standard())
        var refusals: [String] = []
        var current: ObjectID? = new
        for _ in 0..<10_000 {
            guard let commit = current, commit != old else { break }
            let parent = try await git.commitInfo(commit).parents.first
            let changed = try await git.entryID(at: Self.environmentsDirectory, in: commit)
                != (try await parent.asyncMap { try await git.entryID(at: Self.environmentsDirectory, in: $0) } ?? nil)
            if changed, case .refused(let reason) = try await check.verify(commit) { refusals.append(reason) }
            current = parent
        }
        return refusals.reversed()
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
        guard let blob = Armor.decode(armored), blob.count > 10, blob.prefix(6) == Data("SSHSIG".utf8) else { return nil }
        let bytes = [UInt8](blob)
        let length = bytes[10...13].reduce(0) { $0 << 8 | Int($1) }  // after the magic (6) and version (4)
        guard 14 + length <= bytes.count else { return nil }
        return Data(bytes[14..<(14 + length)]).base64EncodedString()
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
