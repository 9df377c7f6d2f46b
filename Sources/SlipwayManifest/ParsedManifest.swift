public import Foundation
public import SlipwayCore

/// One manifest file parsed on its own: the manifest or its problems, and where the keys that
/// checks across files may point at are in its text. A class: the daemon's cache hands the
/// same thousands of them to every pass, and a reference is cheaper to pass on than a manifest.
public final class ParsedManifest: Sendable {
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

    /// Found in the raw text, one pass over its bytes (for problems found across files): the
    /// value of a top-level `upstream:`, and of the first `listen:` and `preview:` anywhere.
    static func anchors(in data: Data) -> Anchors {
        var anchors = Anchors()
        let bytes = [UInt8](data)
        var line = 1, lineStart = 0
        func value(after end: Int) -> Position {
            var column = end - lineStart + 1
            var index = end
            while index < bytes.count, bytes[index] == 32 { index += 1; column += 1 }
            return Position(line: line, column: column)
        }
        func matches(_ key: [UInt8], at index: Int) -> Bool {
            index + key.count <= bytes.count && bytes[index..<index + key.count].elementsEqual(key)
        }
        let upstream = Array("upstream:".utf8), listen = Array("listen:".utf8), preview = Array("preview:".utf8)
        for index in bytes.indices {
            if bytes[index] == 10 {
                (line, lineStart) = (line + 1, index + 1)
                continue
            }
            if index == lineStart, anchors.upstream == nil, matches(upstream, at: index) { anchors.upstream = value(after: index + upstream.count) }
            if anchors.listen == nil, bytes[index] == 108, matches(listen, at: index) { anchors.listen = value(after: index + listen.count) }
            if anchors.preview == nil, bytes[index] == 112, matches(preview, at: index) { anchors.preview = value(after: index + preview.count) }
        }
        return anchors
    }
}
