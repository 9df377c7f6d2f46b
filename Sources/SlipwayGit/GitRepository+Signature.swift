public import Foundation
import CLibGit2
public import SlipwayCore

/// A commit's signature (the `gpgsig` header: OpenPGP or SSH) and the bytes it signs.
public struct CommitSignature: Sendable {
    public let signature: Data
    public let signedData: Data

    /// `-----BEGIN SSH SIGNATURE-----` rather than OpenPGP.
    public var isSSH: Bool { signature.starts(with: Data("-----BEGIN SSH SIGNATURE-----".utf8)) }
}

extension GitRepository {
    /// The signature of a commit, nil when it is not signed (`git_commit_extract_signature`).
    public func signature(of commit: ObjectID) throws -> CommitSignature? {
        var signature = git_buf(), signed = git_buf()
        defer {
            git_buf_dispose(&signature)
            git_buf_dispose(&signed)
        }
        var raw = commit.raw
        let result = git_commit_extract_signature(&signature, &signed, repo, &raw, nil)
        if result == GIT_ENOTFOUND.rawValue { return nil }
        try check(result, "signature of \(commit.short)")
        func data(_ buffer: git_buf) -> Data {
            guard let pointer = buffer.ptr else { return Data() }
            return Data(bytes: pointer, count: buffer.size)
        }
        return CommitSignature(signature: data(signature), signedData: data(signed))
    }
}
