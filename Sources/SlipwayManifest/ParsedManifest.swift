public import Foundation
public import SlipwayCore

/// One manifest file parsed on its own: the manifest or its problems, and where the keys that
/// checks across files may point at are in its text.
public struct ParsedManifest: Sendable {
    /// A place in a file's text, 1-based.
    public struct Position: Sendable, Hashable {
        public let line: Int
        public let column: Int
        static let start = Position(line: 1, column: 1)
    }

    /// The value of the top-level `upstream:`, and of the first `listen:` and `preview:`.
    public struct Anchors: Sendable, Hashable {
        var upstream: Position?
        var listen: Position?
        var preview: Position?
    }

    public let path: String
    /// Nil for a file that names no environment (not a `.yaml` file, or an invalid name).
    public let name: EnvironmentName?
    public let manifest: Manifest?
    public let diagnostics: [Diagnostic]
    let anchors: Anchors

    init(path: String, name: EnvironmentName? = nil, manifest: Manifest? = nil, diagnostics: [Diagnostic] = [], anchors: Anchors = Anchors()) {
        (self.path, self.name, self.manifest, self.diagnostics, self.anchors) = (path, name, manifest, diagnostics, anchors)
    }

    /// Found in the raw text, one pass (for problems found across files).
    static func anchors(in data: Data) -> Anchors {
        var anchors = Anchors()
        for (index, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if anchors.upstream == nil, line.hasPrefix("upstream:") {
                anchors.upstream = Position(line: index + 1, column: 10 + line.dropFirst(9).prefix { $0 == " " }.count)
            }
            for key in ["listen", "preview"] {
                guard let range = line.range(of: "\(key):") else { continue }
                let column = line.distance(from: line.startIndex, to: range.upperBound) + line[range.upperBound...].prefix { $0 == " " }.count + 1
                if key == "listen", anchors.listen == nil { anchors.listen = Position(line: index + 1, column: column) }
                if key == "preview", anchors.preview == nil { anchors.preview = Position(line: index + 1, column: column) }
            }
        }
        return anchors
    }
}
