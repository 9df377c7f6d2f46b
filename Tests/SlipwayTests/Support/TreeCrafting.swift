import Foundation

/// Trees as someone with push access can write them — names git itself never writes included —
/// grafted into the tracked branch with git's plumbing (no working tree involved).
extension OpsRepoFixture {
    struct Entry {
        let mode: String
        let name: [UInt8]
        let id: String

        init(mode: String, name: [UInt8], id: String) {
            (self.mode, self.name, self.id) = (mode, name, id)
        }

        init(mode: String, name: String, id: String) { self.init(mode: mode, name: Array(name.utf8), id: id) }
    }

    /// The entries of a tree (`git ls-tree -z`).
    func entries(_ treeish: String) throws -> [Entry] {
        let output = (try? git(["ls-tree", "-z", treeish])) ?? ""
        return output.split(separator: "\0").compactMap { line in
            guard let tab = line.firstIndex(of: "\t") else { return nil }
            let fields = line[..<tab].split(separator: " ")
            return fields.count == 3 ? Entry(mode: String(fields[0]), name: String(line[line.index(after: tab)...]), id: String(fields[2])) : nil
        }
    }

    /// Writes a tree object with exactly these entries, in git's order (`hash-object --literally`).
    func writeTree(_ entries: [Entry]) throws -> String {
        func key(_ entry: Entry) -> [UInt8] { entry.mode == "40000" || entry.mode == "040000" ? entry.name + [47] : entry.name }
        var bytes = Data()
        for entry in entries.sorted(by: { key($0).lexicographicallyPrecedes(key($1)) }) {
            bytes.append(contentsOf: Array(entry.mode.drop { $0 == "0" }.utf8) + [32] + entry.name + [0])
            var raw = [UInt8]()
            var hex = Array(entry.id.utf8)[...]
            while hex.count >= 2, let byte = UInt8(String(decoding: hex.prefix(2), as: UTF8.self), radix: 16) { raw.append(byte); hex = hex.dropFirst(2) }
            bytes.append(contentsOf: raw)
        }
        return try git(["hash-object", "-t", "tree", "--literally", "-w", "--stdin"], input: bytes).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A blob with `content` (`git hash-object -w`).
    func writeBlob(_ content: String) throws -> String {
        try git(["hash-object", "-w", "--stdin"], input: Data(content.utf8)).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Commits the tip's tree with `entry` put at `folder` (created as needed) onto main, as a
    /// push would; with `updateIndex` the index follows when it can hold the tree (so later
    /// commits keep the entry), the working tree never does.
    @discardableResult
    func graft(_ entry: Entry, into folder: String, message: String = "A crafted tree", updateIndex: Bool = true) throws -> String {
        func rebuilt(_ base: String?, _ path: ArraySlice<String>) throws -> String {
            var entries = try base.map { try self.entries($0) } ?? []
            guard let name = path.first else {
                entries.removeAll { $0.name == entry.name }
                return try writeTree(entries + [entry])
            }
            let child = entries.first { $0.name == Array(name.utf8) && $0.mode == "040000" }
            entries.removeAll { $0.name == Array(name.utf8) }
            return try writeTree(entries + [Entry(mode: "040000", name: name, id: try rebuilt(child?.id, path.dropFirst()))])
        }
        let tip = try git(["rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let root = try rebuilt("\(tip)^{tree}", folder.split(separator: "/").map(String.init)[...])
        let commit = try git(["commit-tree", root, "-p", tip, "-m", message]).trimmingCharacters(in: .whitespacesAndNewlines)
        try git(["update-ref", "refs/heads/main", commit, tip])
        if updateIndex && !isBare { _ = try? git(["read-tree", "HEAD"]) }
        return commit
    }
}
