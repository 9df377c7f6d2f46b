internal import CLibGit2
public import SlipwayCore

extension GitRepository {
    /// The note on `commit` under `ref` (`refs/notes/ci`), nil when there is none (`git_note_read`).
    public func note(_ ref: String, on commit: ObjectID) throws -> String? {
        var note: OpaquePointer?
        var oid = commit.raw
        let result = git_note_read(&note, repo, ref, &oid)
        if result == GIT_ENOTFOUND.rawValue { return nil }
        try check(result, "note \(ref) on \(commit.short)")
        guard let note else { return nil }
        defer { git_note_free(note) }
        return git_note_message(note).map { String(cString: $0) }
    }

    /// Sets the note on `commit` under `ref` to `text`, replacing one there (`git_note_create`,
    /// a commit on the notes ref by `author`).
    public func setNote(_ ref: String, on commit: ObjectID, to text: String, author: Signature) throws {
        var signature: UnsafeMutablePointer<git_signature>?
        try check(git_signature_now(&signature, author.name, author.email))
        guard let signature else { throw GitError(code: -1, message: "cannot build a signature") }
        defer { git_signature_free(signature) }
        var target = commit.raw, written = git_oid()
        try check(git_note_create(&written, repo, ref, signature, signature, &target, text, 1), "note \(ref) on \(commit.short)")
    }
}
