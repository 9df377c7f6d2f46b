import Foundation

/// Signed commits as people make them: real SSH keys (`ssh-keygen`), `git commit -S`.
extension OpsRepoFixture {
    /// Makes an SSH key pair without a passphrase in the fixture's folder; returns the private
    /// key's path and its `allowed_signers` line.
    func sshKey(_ name: String) throws -> (key: String, signer: String) {
        let key = root.appendingPathComponent("\(name)_ed25519").path
        let made = try Command.run(URL(fileURLWithPath: "/usr/bin/ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key])
        guard made.status == 0 else { throw TestFailure("ssh-keygen: \(made.output)") }
        let publicKey = try String(contentsOfFile: key + ".pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        return (key, "\(name)@example.com \(publicKey)")
    }

    /// Commits `content` at `path` in the work tree (nil removes the file), signed with an SSH key
    /// or an OpenPGP key when one is given; returns the commit.
    @discardableResult
    func commit(_ path: String, _ content: String?, signedWith sshKey: String? = nil, gpg: (home: String, key: String)? = nil,
                message: String? = nil) throws -> String {
        let url = workTree.appendingPathComponent(path)
        if let content {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(content.utf8).write(to: url)
            try Command.git(["add", path], in: workTree)
        } else {
            try Command.git(["rm", "-q", "-r", path], in: workTree)
        }
        var arguments = ["commit", "--quiet", "-m", message ?? "change \(path)"]
        var environment: [String: String] = [:]
        if let sshKey { arguments = ["-c", "gpg.format=ssh", "-c", "user.signingkey=\(sshKey)"] + arguments + ["-S"] }
        if let gpg {
            arguments = ["-c", "user.signingkey=\(gpg.key)"] + arguments + ["-S"]
            environment["GNUPGHOME"] = gpg.home
        }
        let result = try Command.run(URL(fileURLWithPath: "/usr/bin/git"), arguments, environment: environment, directory: workTree)
        guard result.status == 0 else { throw TestFailure("git commit: \(result.output)") }
        return try Command.git(["rev-parse", "HEAD"], in: workTree).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Where most trust tests start: `Trust/` naming `signer`, then `web 1.0.0` on `port` signed
    /// by them, applied when `apply` (a failed apply throws). Returns the release commit.
    @discardableResult
    func trustedRelease(by signer: (key: String, signer: String), listen port: Int, apply: Bool = true) throws -> String {
        try commit("Trust/allowed_signers", signer.signer + "\n", signedWith: signer.key)
        let release = try commit("Environments/production.yaml", testManifest(version: "1.0.0", replicas: 1, listen: port), signedWith: signer.key)
        if apply {
            let applied = try slipway(["apply"])
            guard applied.status == 0 else { throw TestFailure("apply of the first signed release: \(applied.output)") }
        }
        return release
    }
}
