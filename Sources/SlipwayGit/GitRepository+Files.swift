import Foundation
internal import CLibGit2

/// A file found below a folder of a commit's tree.
public struct TreeFile: Sendable, Hashable {
    /// Relative to the folder listed, e.g. `production/2026/11/26/<record>.md`.
    public let path: String
    public let id: ObjectID
}

extension GitRepository {
    /// Every file below `folder` in a commit's tree, in tree order (byte order of names, folders
    /// descended where they sort); nil when the folder does not exist. With `last`, only that
    /// many files from the end of that order, last first — for folders laid out by date, the
    /// newest, without reading the older subtrees at all.
    ///
    /// Reads trees only (`git_tree_entry_bypath`, `git_tree_lookup`), never a blob.
    public func files(under folder: String, at commit: ObjectID, last: Int? = nil) throws -> [TreeFile]? {
        guard let id = try entryID(at: folder, in: commit, type: GIT_OBJECT_TREE) else { return nil }
        guard last.map({ $0 > 0 }) ?? true else { return [] }
        var files: [TreeFile] = []
        try collect(tree: id, prefix: "", last: last, into: &files)
        return files
    }

    /// Depth-first over one tree; returns false once `last` files are collected.
    @discardableResult
    private func collect(tree id: ObjectID, prefix: String, last: Int?, into files: inout [TreeFile]) throws -> Bool {
        var raw = id.raw
        var tree: OpaquePointer?
        try check(git_tree_lookup(&tree, repo, &raw), "tree \(id.short)")
        guard let tree else { return true }
        defer { git_tree_free(tree) }
        let count = git_tree_entrycount(tree)
        let order: any Sequence<Int> = last == nil ? 0..<count : (0..<count).reversed()
        for index in order {
            guard let entry = git_tree_entry_byindex(tree, index), let oid = git_tree_entry_id(entry) else { continue }
            let path = prefix + String(cString: git_tree_entry_name(entry))
            switch git_tree_entry_type(entry) {
            case GIT_OBJECT_TREE:
                if try !collect(tree: ObjectID(oid.pointee), prefix: path + "/", last: last, into: &files) { return false }
            case GIT_OBJECT_BLOB:
                files.append(TreeFile(path: path, id: ObjectID(oid.pointee)))
                if let last, files.count >= last { return false }
            default:
                continue
            }
        }
        return true
    }
}
