import Foundation
import SlipwayCore

/// The `Slipway-*` trailers of a record commit, and how to read them back.
public enum Trailers {
    public static let environment = "Slipway-Environment"
    public static let service = "Slipway-Service"
    public static let version = "Slipway-Version"
    public static let previousVersion = "Slipway-Previous-Version"
    public static let result = "Slipway-Result"
    public static let deployment = "Slipway-Deployment"
    public static let trigger = "Slipway-Trigger"
    /// On a revert commit: the manifest commit it undoes, and the deployment that failed.
    public static let reverts = "Slipway-Reverts"
    public static let failedDeployment = "Slipway-Failed-Deployment"
    /// On an approval commit (`slipway approve`): the environment and the manifest blob approved.
    public static let approval = "Slipway-Approval"
    /// On a rollback commit (`slipway rollback`): the environment rolled back.
    public static let rollback = "Slipway-Rollback"
    public static let manifest = "Slipway-Manifest"
    /// On a promotion commit: the upstream environment, and the environment it was promoted for.
    public static let promotion = "Slipway-Promotion"
    public static let promotedFor = "Slipway-For"

    /// The commit message of a record: `deploy(<env>): <service> <from> → <to> <result>`, a
    /// short body, and the trailers that `git log --grep` and `git interpret-trailers` read.
    public static func message(for record: DeploymentRecord) -> String {
        let previous = record.previousVersion ?? "none"
        let verb = record.isHeal ? "heal" : "deploy"
        let subject = record.result == .removed ? "remove(\(record.environment)): \(record.service) \(record.version) stopped, its manifest deleted"
            : "\(verb)(\(record.environment)): \(record.service) \(previous) → \(record.version) \(record.result.rawValue)"
        var lines = [subject, ""]
        if let reason = record.reason { lines += [reason.prefix(500) + "", ""] }
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

    /// The path of the record a record commit wrote: derived from its trailers (environment,
    /// deployment, versions, result), or the `Record:` line commits had before they were enough.
    public static func recordPath(in message: String) -> String? {
        if let line = message.split(separator: "\n").first(where: { $0.hasPrefix("Record: ") }) { return String(line.dropFirst(8)) }
        let trailers = parse(message)
        guard let environment = trailers[Self.environment].flatMap({ EnvironmentName($0) }), let deployment = trailers[Self.deployment].flatMap({ DeploymentID($0) }),
              let version = trailers[Self.version], let result = trailers[Self.result].flatMap(DeploymentResult.init) else { return nil }
        let previous = trailers[Self.previousVersion].flatMap { $0 == "none" ? nil : $0 }
        return RecordFile(deployment: deployment, previousVersion: previous, version: version, result: result).path(in: environment)
    }

    /// The trailers of a commit message: `Key: value` lines of its last paragraph.
    public static func parse(_ message: String) -> [String: String] {
        var message = message
        return message.withUTF8 { parse(UnsafeRawBufferPointer($0)) }
    }

    /// The same, from raw message bytes (the history walk never builds the whole message).
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> [String: String] {
        var end = bytes.count
        while end > 0, bytes[end - 1] == 10 || bytes[end - 1] == 13 || bytes[end - 1] == 32 { end -= 1 }
        // The last paragraph starts after the last blank line; there must be one (a subject first).
        var start = end
        while start > 1, !(bytes[start - 1] == 10 && bytes[start - 2] == 10) { start -= 1 }
        guard start > 1 else { return [:] }
        var trailers: [String: String] = [:]
        var lineStart = start
        while lineStart < end {
            let lineEnd = bytes[lineStart..<end].firstIndex(of: 10) ?? end
            guard let colon = bytes[lineStart..<lineEnd].firstIndex(of: 58), colon > lineStart,
                  bytes[lineStart..<colon].allSatisfy({ isKeyByte($0) }) else { return [:] }
            var valueStart = colon + 1
            while valueStart < lineEnd, bytes[valueStart] == 32 || bytes[valueStart] == 9 { valueStart += 1 }
            var valueEnd = lineEnd
            while valueEnd > valueStart, bytes[valueEnd - 1] == 32 || bytes[valueEnd - 1] == 13 { valueEnd -= 1 }
            trailers[String(decoding: bytes[lineStart..<colon], as: UTF8.self)] = String(decoding: bytes[valueStart..<valueEnd], as: UTF8.self)
            lineStart = lineEnd + 1
        }
        return trailers
    }

    private static func isKeyByte(_ byte: UInt8) -> Bool {
        (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte) || byte == 45
    }
}
