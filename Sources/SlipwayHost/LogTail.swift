public import Foundation

/// The end of a log file.
public enum LogTail {
    /// The last `count` lines of the file (reading at most the last 64 KiB), empty when unreadable.
    public static func lastLines(of file: URL, count: Int) -> [String] {
        guard let handle = try? FileHandle(forReadingFrom: file) else { return [] }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        let start = size > 65_536 ? size - 65_536 : 0
        try? handle.seek(toOffset: start)
        let data = (try? handle.readToEnd()) ?? Data()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        return lines.suffix(count + 1).map(String.init).drop { $0.isEmpty }.reversed().drop { $0.isEmpty }.reversed()
    }
}
