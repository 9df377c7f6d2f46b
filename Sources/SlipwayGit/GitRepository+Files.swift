import Foundation
internal import CLibGit2
public import SlipwayCore

/// A file found below a folder of a commit's tree.
public struct TreeFile: Sendable, Hashable {
    /// The folder it is in, relative to the one listed and ending in `/` (empty at the top):
    /// one string shared by every file of that folder.
    public let folder: String
    public let name: String
    public let id: ObjectID

    /// Relative to the folder listed, e.g. `production/2026-11/26/<record>.md`.
    public var path: String { folder + name }
}

/// A file as `visitFiles` passes it: valid during the call only.
public struct VisitedFile {
    /// Its folder relative to the one listed, ending in `/` (empty at the top): one string
    /// shared by the files of a folder.
    public let folder: String
    /// The bytes of its name.
    public let name: UnsafeBufferPointer<UInt8>
    let idBytes: UnsafePointer<UInt8>

    /// Its blob id, made when asked (hex formatting per file is measurable over 100,000).
    public var id: ObjectID { ObjectID(bytes: idBytes) }
}

extension GitRepository {
    /// Every file below `folder` in a commit's tree, in tree order (byte order of names, folders
    /// descended where they sort); nil when the folder does not exist. With `last`, only that
    /// many files from the end of that order, last first — for folders laid out by date, the
    /// newest, without reading the older subtrees at all.
    public func files(under folder: String, at commit: ObjectID, last: Int? = nil) throws -> [TreeFile]? {
        var files: [TreeFile] = []
        let found = try visitFiles(under: folder, at: commit, reversed: last != nil) { file in
            files.append(TreeFile(folder: file.folder, name: String(decoding: file.name, as: UTF8.self), id: file.id))
            return last.map { files.count < $0 } ?? true
        }
        return found ? files : nil
    }

    /// Calls `visit` with each file below `folder`, in tree order or the reverse, until it
    /// returns false. False when `folder` does not exist.
    ///
    /// Reads each tree raw from the object database (`git_odb_read`) and parses it here:
    /// `git_tree_lookup` builds and caches a tree object per folder that a listing never uses
    /// again, which made listing 10,000 records half again as slow as `git ls-tree`. The trees
    /// come from whoever pushed them, so the walk is bounded: `maximumDepth` levels below
    /// `folder`, each tree read once however often it is referenced (a tree that names the same
    /// subtree ten times a level for nine levels would otherwise be a billion files), and
    /// entries whose names are not plain file names (`/`, `.`, `..`) are passed over.
    public func visitFiles(under folder: String, at commit: ObjectID, reversed: Bool = false, maximumDepth: Int = 8,
                           _ visit: (VisitedFile) throws -> Bool) throws -> Bool {
        guard let id = try entryID(at: folder, in: commit, type: GIT_OBJECT_TREE) else { return false }
        var odb: OpaquePointer?
        try check(git_repository_odb(&odb, repo))
        defer { git_odb_free(odb) }
        var walk = TreeWalk(odb: odb, reversed: reversed, maximumDepth: maximumDepth)
        _ = try walk.tree(id, prefix: "", depth: 0, visit)
        return true
    }
}

/// One bounded walk over raw trees (see `visitFiles`).
private struct TreeWalk {
    let odb: OpaquePointer?
    let reversed: Bool
    let maximumDepth: Int
    var seen: Set<ObjectID> = []

    /// Depth-first over one raw tree; returns false once `visit` asked to stop.
    mutating func tree(_ id: ObjectID, prefix: String, depth: Int, _ visit: (VisitedFile) throws -> Bool) throws -> Bool {
        guard depth <= maximumDepth, seen.insert(id).inserted else { return true }
        var oid = id.raw
        var object: OpaquePointer?
        let result = git_odb_read(&object, odb, &oid)
        if result == GIT_ENOTFOUND.rawValue { return true }  // a shallow clone, or an object never pushed
        try check(result, "tree \(id.short)")
        guard let object else { return true }
        defer { git_odb_object_free(object) }
        guard git_odb_object_type(object) == GIT_OBJECT_TREE, let data = git_odb_object_data(object) else { return true }
        let bytes = UnsafeBufferPointer(start: data.assumingMemoryBound(to: UInt8.self), count: git_odb_object_size(object))
        let entries = RawTreeEntry.parse(bytes)
        for entry in reversed ? entries.reversed() : entries {
            guard let base = bytes.baseAddress else { break }
            let name = UnsafeBufferPointer(rebasing: bytes[entry.name])
            guard RawTreeEntry.isPlainName(name) else { continue }
            if entry.isTree {
                let folder = prefix + String(decoding: name, as: UTF8.self) + "/"
                if try !tree(ObjectID(bytes: base + entry.id), prefix: folder, depth: depth + 1, visit) { return false }
            } else if entry.isFile, try !visit(VisitedFile(folder: prefix, name: name, idBytes: base + entry.id)) {
                return false
            }
        }
        return true
    }
}

/// One entry of a raw tree object: `<octal mode> <name>\0<20-byte id>`.
struct RawTreeEntry {
    let mode: UInt32
    /// Where the name and the id are in the object's bytes.
    let name: Range<Int>
    let id: Int

    var isTree: Bool { mode == 0o40000 }
    /// A regular file, executable or not (not a symlink, not a submodule).
    var isFile: Bool { mode == 0o100644 || mode == 0o100755 }

    /// A name git itself would write: not empty, not `.` or `..`, no `/` (a crafted tree can
    /// hold any of them, and joined into a path they lead elsewhere).
    static func isPlainName(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        !name.isEmpty && !name.contains(UInt8(ascii: "/")) && !name.elementsEqual(".".utf8) && !name.elementsEqual("..".utf8)
    }

    /// The entries of a tree object, in the order git stores them; parsing stops at the first
    /// malformed entry.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> [RawTreeEntry] {
        var entries: [RawTreeEntry] = []
        var position = 0
        while position < bytes.count {
            var mode: UInt32 = 0
            while position < bytes.count, (48...55).contains(bytes[position]), mode < 0o1000000 {
                mode = mode << 3 | UInt32(bytes[position] - 48)
                position += 1
            }
            guard position < bytes.count, bytes[position] == 32 else { break }
            let nameStart = position + 1
            guard let nul = bytes[nameStart...].firstIndex(of: 0), nul + 21 <= bytes.count else { break }
            entries.append(RawTreeEntry(mode: mode, name: nameStart..<nul, id: nul + 1))
            position = nul + 21
        }
        return entries
    }
}
