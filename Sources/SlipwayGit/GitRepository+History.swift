import Foundation
internal import CLibGit2
public import SlipwayCore

/// A commit as the history walk sees it: id, committer time and raw message bytes.
public struct RawCommit {
    public let id: ObjectID
    /// Committer time, seconds since 1970.
    public let time: Int64
    /// The message (everything after the header), valid only during the visit.
    public let message: UnsafeRawBufferPointer
}

extension GitRepository {
    /// Visits the first-parent chain from `tip`, newest first — the branch's own history, in
    /// order even when commits share a timestamp — passing commits whose message contains
    /// `needle` to `visit` until it returns false. With `after`, the walk ends at the first commit
    /// that is `after` or one of its ancestors (whichever side of a merge `after` came in by).
    ///
    /// Each commit is read once, raw, from the object database (`git_odb_read`) and its header
    /// parsed here: the revwalk plus `git_commit_lookup` pair reads and parses every commit
    /// twice, which over 100,000 commits was several times slower than `git log --grep`.
    public func walk(from tip: ObjectID, containing needle: String, after: ObjectID? = nil, _ visit: (RawCommit) throws -> Bool) throws {
        var odb: OpaquePointer?
        try check(git_repository_odb(&odb, repo))
        defer { git_odb_free(odb) }
        let needleBytes = Array(needle.utf8)
        let allowed = try after.map { try firstParentCommits(from: tip, hiding: $0) }
        var next: git_oid? = tip.raw
        while var oid = next {
            if let allowed, !allowed.contains(ObjectID(oid)) { return }
            var object: OpaquePointer?
            let result = git_odb_read(&object, odb, &oid)
            if result == GIT_ENOTFOUND.rawValue { return }  // a shallow clone's history ends here
            try check(result, "commit \(ObjectID(oid).short)")
            guard let object else { return }
            defer { git_odb_object_free(object) }
            guard git_odb_object_type(object) == GIT_OBJECT_COMMIT, let data = git_odb_object_data(object) else { return }
            let bytes = UnsafeRawBufferPointer(start: data, count: git_odb_object_size(object))
            let header = CommitHeader(bytes)
            next = header.firstParent
            let message = UnsafeRawBufferPointer(rebasing: bytes[header.messageStart...])
            if needleBytes.isEmpty || message.firstRange(of: needleBytes) != nil {
                if try !visit(RawCommit(id: ObjectID(oid), time: header.committerTime, message: message)) { return }
            }
        }
    }
}

extension GitRepository {
    /// The commits on the first-parent line from `tip` that are not `hidden` or its ancestors: one walk.
    func firstParentCommits(from tip: ObjectID, hiding hidden: ObjectID) throws -> Set<ObjectID> {
        var commits = Set<ObjectID>()
        try revwalk(from: tip, hiding: hidden, firstParent: true) { commits.insert($0); return true }
        return commits
    }
}

extension GitRepository {
    /// Whether a commit in the history of `tip` (at most `depth` of them, newest first; past
    /// that, assumed so) had `blob` at `path` (nil: had nothing there).
    public func history(of tip: ObjectID, held path: String, blob: ObjectID?, depth: Int) throws -> Bool {
        var held = false, seen = 0
        try revwalk(from: tip) { commit in
            seen += 1
            held = try entryID(at: path, in: commit) == blob || seen >= depth
            return !held
        }
        return held
    }
}

/// The fields of a raw commit object's header that the walk needs.
struct CommitHeader {
    var firstParent: git_oid?
    var committerTime: Int64 = 0
    var messageStart: Int

    init(_ bytes: UnsafeRawBufferPointer) {
        messageStart = bytes.count
        var lineStart = 0
        while lineStart < bytes.count {
            let lineEnd = bytes[lineStart...].firstIndex(of: 10) ?? bytes.count
            if lineEnd == lineStart {  // the blank line that ends the header
                messageStart = min(lineEnd + 1, bytes.count)
                return
            }
            let line = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<lineEnd])
            if firstParent == nil, line.starts(with: Self.parent), line.count >= 47 {
                var oid = git_oid()
                let hex = Array(line[7..<47]) + [0]
                if hex.withUnsafeBufferPointer({ git_oid_fromstr(&oid, UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self)) }) == 0 {
                    firstParent = oid
                }
            } else if line.starts(with: Self.committer) {
                // "committer Name <email> 1790000000 +0000": the second field from the end.
                let fields = line.split(separator: 32)
                if fields.count >= 2 { committerTime = Int64(String(decoding: fields[fields.count - 2], as: UTF8.self)) ?? 0 }
            }
            lineStart = lineEnd + 1
        }
    }

    static let parent = Array("parent ".utf8)
    static let committer = Array("committer ".utf8)
}

extension UnsafeRawBufferPointer {
    func firstRange(of needle: [UInt8]) -> Range<Int>? {
        guard !needle.isEmpty, needle.count <= count, let base = baseAddress else { return nil }
        return needle.withUnsafeBytes { pattern -> Range<Int>? in
            guard let patternBase = pattern.baseAddress else { return nil }
            var start = 0
            while start + needle.count <= count {
                guard let hit = memchr(base + start, Int32(needle[0]), count - start - needle.count + 1) else { return nil }
                let offset = UnsafeRawPointer(hit) - base
                if memcmp(hit, patternBase, needle.count) == 0 { return offset..<(offset + needle.count) }
                start = offset + 1
            }
            return nil
        }
    }
}

extension GitRepository {
    /// The commit that gave `path` (a file or a folder) the content `blob`: walking back from
    /// `tip` through a parent that has the same content (the first such parent: a merge that
    /// took the content from its second side leads there), the oldest commit in that unbroken
    /// run. However far back that is: the answer is kept per path and blob with the tip it was
    /// found from, so the next question (from a later tip) walks only the commits between.
    /// A nil `blob` asks for the commit that deleted `path`.
    public func introducingCommit(of path: String, blob: ObjectID?, from tip: ObjectID) throws -> ObjectID {
        let key = "\(path)\u{0}\(blob?.hex ?? "absent")"
        let known = introductions[key]
        var current = tip
        while true {
            if let known, current == known.tip { break }
            guard let parent = try commitInfo(current).parents.first(where: { try entryID(at: path, in: $0) == blob }) else {
                introductions[key] = (tip, current)
                return current
            }
            current = parent
        }
        guard let known else { return current }
        introductions[key] = (tip, known.commit)
        return known.commit
    }
}
