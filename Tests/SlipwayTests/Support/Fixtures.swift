import Foundation

/// Files in `Tests/Fixtures`, shared by both test targets.
enum Fixtures {
    static func text(_ name: String) -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent(name)
        return (try? String(contentsOf: url, encoding: .utf8)) ?? "missing fixture \(name)"
    }
}
