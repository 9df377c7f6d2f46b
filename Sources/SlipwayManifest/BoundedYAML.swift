public import Foundation
public import Yams

/// The one door through which Slipway parses YAML (manifests, and the front matter of status
/// files and records): everything it reads back from an ops repo, so input anyone with push
/// access controls.
///
/// Before Yams sees a document, one linear pass over its text refuses what Slipway's documents
/// never need and what makes a YAML parser slow or crash: anchors and aliases (an alias used as
/// a mapping key made Yams' duplicate-key check run for minutes on 421 bytes), tags, more than
/// one document, and nesting deeper than `maximumDepth` (the parser recurses once per level).
/// With the size capped too, any input parses or is refused in well under a second.
public enum BoundedYAML {
    public static let maximumBytes = 256 * 1024
    /// Levels of brackets, and columns of indentation.
    public static let maximumDepth = 64
    public static let maximumIndentation = 256

    /// Why the text is refused, with where; nil when it may be parsed.
    public struct Refusal: Error, Equatable, CustomStringConvertible {
        public let line: Int
        public let column: Int
        public let message: String
        public var description: String { "\(line):\(column): \(message)" }
    }

    /// Composes `text` into a node tree once `check` lets it through (`Yams.compose` with
    /// `.basic` resolution: every scalar stays a string, and no regular expression runs per scalar).
    public static func compose(_ text: String) throws -> Node? {
        if let refusal = check(text) { throw refusal }
        return try Yams.compose(yaml: text, .basic, .default, .utf8)
    }

    /// One pass over the text: quoted scalars, comments and block scalars are skipped as YAML
    /// reads them; an `&`, `*` or `!` where a node may start, a `---` after content, a line
    /// indented deeper than `maximumIndentation` or brackets deeper than `maximumDepth` refuse it.
    public static func check(_ text: String) -> Refusal? {
        let bytes = Array(text.utf8)
        guard bytes.count <= maximumBytes else {
            return Refusal(line: 1, column: 1, message: "the document is \(bytes.count) bytes; the limit is \(maximumBytes / 1024) KiB")
        }
        var scanner = Scanner(bytes: bytes)
        return scanner.run()
    }

    private struct Scanner {
        let bytes: [UInt8]
        var position = 0
        var line = 1
        var lineStart = 0
        /// Brackets open (flow collections).
        var depth = 0
        /// Indentation of the line that opened a block scalar (`|`, `>`): deeper lines are its text.
        var blockScalarParent: Int?
        var sawContent = false

        init(bytes: [UInt8]) { self.bytes = bytes }

        var column: Int { position - lineStart + 1 }

        func refuse(_ message: String) -> Refusal { Refusal(line: line, column: column, message: message) }

        mutating func run() -> Refusal? {
            while position < bytes.count {
                if let refusal = scanLine() { return refusal }
            }
            return nil  // an unclosed bracket or quote is the parser's to report: it knows where it got lost
        }

        /// Scans from the start of a line to the start of the next.
        mutating func scanLine() -> Refusal? {
            lineStart = position
            var indentation = 0
            while position < bytes.count, bytes[position] == 32 { position += 1; indentation += 1 }
            let end = bytes[position...].firstIndex(of: 10) ?? bytes.count
            let blank = position == end || bytes[position] == UInt8(ascii: "#") || (bytes[position] == 13 && position + 1 == end)
            if let parent = blockScalarParent {
                if blank || indentation > parent { return nextLine(after: end) }  // the block scalar's own text
                blockScalarParent = nil
            }
            guard indentation <= BoundedYAML.maximumIndentation else {
                return refuse("indented \(indentation) columns deep; the limit is \(BoundedYAML.maximumIndentation)")
            }
            if !blank, bytes[position...].starts(with: Array("---".utf8)), position + 3 == end || bytes[position + 3] == 32 {
                if sawContent { return refuse("a second document (---): only one is read") }
                position += 3
            }
            return scanNodes(until: end, indentation: indentation)
        }

        /// The rest of a line after its indentation, indicator by indicator: where a node may
        /// start, what starts there.
        mutating func scanNodes(until lineEnd: Int, indentation: Int) -> Refusal? {
            var end = lineEnd
            var nodeMayStart = true
            while position < end {
                let byte = bytes[position]
                switch byte {
                case 32, 9, 13:
                    position += 1
                    continue
                case UInt8(ascii: "#") where position == lineStart + indentation || bytes[position - 1] == 32 || bytes[position - 1] == 9:
                    return nextLine(after: end)  // a comment
                case UInt8(ascii: "'"), UInt8(ascii: "\""):
                    guard nodeMayStart else { break }
                    if let refusal = skipQuoted(byte) { return refusal }
                    end = bytes[position...].firstIndex(of: 10) ?? bytes.count  // it may have ended on a later line
                    nodeMayStart = false
                    sawContent = true
                    continue
                case UInt8(ascii: "&"), UInt8(ascii: "*"):
                    if nodeMayStart { return refuse("anchors and aliases (& and *) are not accepted here; write the value out") }
                case UInt8(ascii: "!"):
                    if nodeMayStart { return refuse("tags (!) are not accepted here") }
                case UInt8(ascii: "|"), UInt8(ascii: ">"):
                    if nodeMayStart, depth == 0 {
                        blockScalarParent = indentation
                        return nextLine(after: end)
                    }
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    if nodeMayStart {
                        depth += 1
                        guard depth <= BoundedYAML.maximumDepth else { return refuse("nested more than \(BoundedYAML.maximumDepth) levels deep") }
                        position += 1
                        sawContent = true
                        continue
                    }
                case UInt8(ascii: "]"), UInt8(ascii: "}"):
                    if depth > 0 { depth -= 1 }
                case UInt8(ascii: ","):
                    if depth > 0 {
                        position += 1
                        nodeMayStart = true
                        continue
                    }
                case UInt8(ascii: "-"), UInt8(ascii: "?"), UInt8(ascii: ":"):
                    if isIndicator(byte, before: end) {
                        position += 1
                        nodeMayStart = true
                        continue
                    }
                default:
                    break
                }
                // Inside a plain scalar: nothing starts until the next indicator.
                sawContent = true
                nodeMayStart = false
                position += 1
            }
            return nextLine(after: end)
        }

        /// `-`, `?` or `:` at `position` is an indicator when a space, a line end or (in a flow) a bracket follows it.
        func isIndicator(_ byte: UInt8, before end: Int) -> Bool {
            let next = position + 1 < end ? bytes[position + 1] : 32
            return next == 32 || next == 9 || next == 13 || (depth > 0 && byte == UInt8(ascii: ":") && ",]}".utf8.contains(next))
        }

        mutating func nextLine(after end: Int) -> Refusal? {
            position = end + 1
            line += 1
            return nil
        }

        /// Skips a quoted scalar, which may span lines; `''` and `\x` stay inside it.
        mutating func skipQuoted(_ quote: UInt8) -> Refusal? {
            position += 1
            while position < bytes.count {
                let byte = bytes[position]
                if byte == 10 {
                    line += 1
                    lineStart = position + 1
                } else if quote == UInt8(ascii: "\""), byte == UInt8(ascii: "\\") {
                    position += 1
                } else if byte == quote {
                    if quote == UInt8(ascii: "'"), position + 1 < bytes.count, bytes[position + 1] == quote {
                        position += 1
                    } else {
                        position += 1
                        return nil
                    }
                }
                position += 1
            }
            position = bytes.count  // a last `\` skipped one byte past the end
            return nil  // never closed: nothing after it is YAML structure, and the parser reports it
        }
    }
}
