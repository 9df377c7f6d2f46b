import Foundation
import Mustache
import SlipwayBundle

/// Renders records and status files: the front matter Slipway writes itself, then a Markdown
/// body from a Mustache template. An ops repo's own `Templates/` folder wins over the templates
/// built into Slipway, file by file — for the body only, so a template can change how a record
/// reads but never what its front matter says.
public struct RecordTemplates: Sendable {
    public static let recordName = "record.md.mustache"
    public static let statusName = "status.md.mustache"
    /// Larger templates, or rendered bodies, are not used: the built-in template is.
    public static let maximumBytes = 256 * 1024

    private let record: Body
    private let status: Body
    /// The ops repo's templates that could not be used, and why; the built-in ones were.
    public let unusable: [String: String]

    /// A body template, with the built-in one to fall back on when it renders too much.
    private struct Body: Sendable {
        let template: MustacheTemplate?
        let builtIn: MustacheTemplate?

        func render(_ context: [String: Any]) -> String {
            let text = template?.render(context) ?? ""
            return text.utf8.count <= RecordTemplates.maximumBytes ? text : builtIn?.render(context) ?? ""
        }
    }

    /// - Parameter overrides: template texts by file name from the ops repo.
    public init(overrides: [String: String] = [:]) {
        var unusable: [String: String] = [:]
        func body(_ name: String) -> Body {
            let builtIn = try? MustacheTemplate(string: Self.body(of: Defaults.templates[name] ?? ""))
            guard let text = overrides[name] else { return Body(template: builtIn, builtIn: builtIn) }
            guard text.utf8.count <= Self.maximumBytes else {
                unusable[name] = "larger than \(Self.maximumBytes / 1024) KiB"
                return Body(template: builtIn, builtIn: builtIn)
            }
            do {
                return Body(template: try MustacheTemplate(string: Self.body(of: text)), builtIn: builtIn)
            } catch {
                unusable[name] = "its Mustache does not parse (\(String(describing: error).split(separator: "\n").first?.prefix(160) ?? ""))"
                return Body(template: builtIn, builtIn: builtIn)
            }
        }
        record = body(Self.recordName)
        status = body(Self.statusName)
        self.unusable = unusable
    }

    /// A template's body: without the `---`, `{{{frontMatter}}}`, `---` lines that templates
    /// written before Slipway wrote the front matter itself start with.
    static func body(of template: String) -> String {
        for header in ["---\n{{{frontMatter}}}\n---\n", "---\r\n{{{frontMatter}}}\r\n---\r\n"] where template.hasPrefix(header) {
            return String(template.dropFirst(header.count))
        }
        return template
    }

    public func render(_ record: DeploymentRecord) -> String {
        "---\n" + FrontMatter.record(record) + "\n---\n" + self.record.render(RecordView(record: record).context)
    }

    public func render(_ status: EnvironmentStatus) -> String {
        var context: [String: Any] = [
            "environment": status.environment.rawValue, "service": status.service,
            "lastResult": status.lastResult.rawValue, "lastDeployment": status.lastDeployment.rawValue,
            "commitShort": status.commit?.short ?? "",
            "instances": status.instances.map { ["id": $0.id, "version": $0.version] },
        ]
        let optional: [String: String?] = [
            "version": status.version, "since": status.since, "failedVersion": status.failedVersion,
            "failedDeployment": status.failedDeployment?.rawValue, "failedReason": status.failedReason.map(RecordView.cell),
            "validatedVersion": status.validatedVersion, "validatedIn": status.validatedIn?.rawValue,
        ]
        for (key, value) in optional { context[key] = value }
        return "---\n" + FrontMatter.status(status) + "\n---\n" + self.status.render(context)
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
