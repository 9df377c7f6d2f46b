import Foundation
import Synchronization
import SlipwayGit
import SlipwayManifest
import SlipwayHost
import SlipwayCore

/// Checking one commit's signature against the keys of one version of `Trust/`: SSH with
/// `ssh-keygen -Y verify`, OpenPGP with `gpgv`, each run on files in a private folder of the
/// state directory.
extension TrustCheck {
    /// Checks the signature of `commit` against the keys of the `Trust/` version `keys` (a tree id).
    func verifySignature(of commit: ObjectID, who: String, against tree: ObjectID, note: String) async throws -> Verdict {
        guard let signature = try await repository.git.signature(of: commit) else {
            return .refused("\(who) is not signed; \(Self.folder)/ requires a signature by an allowed signer\(note)")
        }
        let key = "\(commit.hex) \(tree.hex)"
        let verdict: Verdict
        if let known = signatures.verdicts.withLock({ $0[key] }) {
            verdict = known
        } else {
            verdict = signature.isSSH ? try await verifySSH(signature, keys: tree, who: who) : try await verifyGPG(signature, keys: tree, who: who)
            signatures.verdicts.withLock { $0[key] = verdict }
        }
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
        // VALIDSIG <fingerprint> <date> <timestamp> <expires> <version> <reserved> <key algo> <hash algo> <class> …: a
        // text-mode signature (class 01) also verifies the commit with its line ends changed, which is another commit.
        let valid = status.first { $0.hasPrefix("[GNUPG:] VALIDSIG ") }?.split(separator: " ")
        guard let valid, valid.count > 10, valid[10] == "00" else {
            return .refused("\(who) is signed in OpenPGP text mode (signature class \(valid.flatMap { $0.count > 10 ? String($0[10]) : nil } ?? "?")); sign commits as binary data (no textmode in gpg.conf)")
        }
        let fields = good.split(separator: " ", maxSplits: 3)  // [GNUPG:] GOODSIG <key id> <user id>
        return .trusted("signed by \(fields.count > 3 ? fields[3] : "?") (OpenPGP key \(fields.count > 2 ? fields[2] : "?"))")
    }

    // MARK: Helpers

    /// A file directly in the `Trust/` version `keys` (at most 1 MiB).
    func file(_ name: String, in keys: ObjectID) async throws -> Data? {
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
        let result = try await Commands.output(of: spec, executable: executable, timeout: .seconds(30))
        return (result.status ?? -1, result.text)
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

/// Signature verdicts already reached, by commit and keys: one judgement verifies each commit
/// once however many files or merges lead to it.
final class SignatureCache: Sendable {
    let verdicts = Mutex<[String: TrustCheck.Verdict]>([:])
}
