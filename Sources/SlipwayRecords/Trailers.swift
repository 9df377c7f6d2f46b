import Foundation

/// The `Slipway-*` trailers of a record commit, and how to read them back.
public enum Trailers {
    public static let environment = "Slipway-Environment"
    public static let service = "Slipway-Service"
    public static let version = "Slipway-Version"
    public static let previousVersion = "Slipway-Previous-Version"
    public static let result = "Slipway-Result"
    public static let deployment = "Slipway-Deployment"
    public static let trigger = "Slipway-Trigger"

    /// The commit message of a record: `deploy(<env>): <service> <from> → <to> <result>`, a
    /// short body, and the trailers that `git log --grep` and `git interpret-trailers` read.
    public static func message(for record: DeploymentRecord) -> String {
        let previous = record.previousVersion ?? "none"
        var lines = ["deploy(\(record.environment)): \(record.service) \(previous) → \(record.version) \(record.result.rawValue)", ""]
        if let reason = record.reason { lines += [reason.prefix(500) + "", ""] }
        lines.append("Record: \(record.path)")
        lines.append("")
        lines += [
            "\(environment): \(record.environment)",
            "\(service): \(record.service)",
            "\(version): \(record.version)",
            "\(previousVersion): \(previous)",
            "\(result): \(record.result.rawValue)",
            "\(deployment): \(record.deployment)",
            "\(trigger): \(record.trigger)",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// The trailers of a commit message: `Key: value` lines of its last paragraph.
    public static func parse(_ message: String) -> [String: String] {
        let paragraphs = message.split(separator: "\n\n", omittingEmptySubsequences: true)
        guard paragraphs.count > 1, let last = paragraphs.last else { return [:] }
        var trailers: [String: String] = [:]
        for line in last.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { return [:] }
            let key = line[..<colon]
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else { return [:] }
            trailers[String(key)] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return trailers
    }
}
