import Foundation
import Mustache
import SlipwayDefaults

/// Renders records and status files from Mustache templates. An ops repo's own `Templates/`
/// folder wins over the templates built into Slipway, file by file.
public struct RecordTemplates: Sendable {
    public static let recordName = "record.md.mustache"
    public static let statusName = "status.md.mustache"

    private let record: MustacheTemplate
    private let status: MustacheTemplate

    /// - Parameter overrides: template texts by file name from the ops repo.
    public init(overrides: [String: String] = [:]) throws {
        func template(_ name: String) throws -> MustacheTemplate {
            try MustacheTemplate(string: overrides[name] ?? Defaults.templates[name] ?? "")
        }
        record = try template(Self.recordName)
        status = try template(Self.statusName)
    }

    public func render(_ record: DeploymentRecord) throws -> String {
        self.record.render(RecordView(record: record).context)
    }

    public func render(_ status: EnvironmentStatus) throws -> String {
        var context: [String: Any] = [
            "frontMatter": FrontMatter.status(status), "environment": status.environment, "service": status.service,
            "lastResult": status.lastResult.rawValue, "lastDeployment": status.lastDeployment,
            "commitShort": status.commit.map { String($0.prefix(7)) } ?? "",
            "instances": status.instances.map { ["id": $0.id, "version": $0.version] },
        ]
        let optional: [String: String?] = [
            "version": status.version, "since": status.since, "failedVersion": status.failedVersion,
            "failedDeployment": status.failedDeployment, "failedReason": status.failedReason.map(RecordView.cell),
            "validatedVersion": status.validatedVersion, "validatedIn": status.validatedIn,
        ]
        for (key, value) in optional { context[key] = value }
        return self.status.render(context)
    }

    /// Reads the front matter back out of a rendered status file.
    public static func parseStatus(_ text: String) throws -> EnvironmentStatus {
        try FrontMatter.parseStatus(text)
    }

    /// Reads the front matter back out of a rendered record.
    public static func parseRecord(_ text: String) throws -> DeploymentRecord {
        try FrontMatter.parseRecord(text)
    }
}
