import Foundation
import Mustache
import SlipwayDefaults
import Yams

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
        var context = try Self.context(record)
        context["frontMatter"] = try Self.frontMatter(record)
        context["duration"] = Self.duration(record.finished.timeIntervalSince(record.started))
        context["previousVersion"] = record.previousVersion ?? "none"
        context["triggerShort"] = String(record.trigger.prefix(7))
        return self.record.render(context)
    }

    public func render(_ status: EnvironmentStatus) throws -> String {
        var context = try Self.context(status)
        context["frontMatter"] = try Self.frontMatter(status)
        context["commitShort"] = status.commit.map { String($0.prefix(7)) } ?? ""
        return self.status.render(context)
    }

    /// Reads the front matter back out of a rendered status file. Reads Yams nodes directly:
    /// `YAMLDecoder` costs about 0.3 ms a file, which `plan` over 1,000 environments feels.
    public static func parseStatus(_ text: String) throws -> EnvironmentStatus {
        // `.basic` and plain dictionaries: Yams resolves tags with ICU regular expressions when
        // nodes are compared or hashed, which a `mapping[key]` lookup does for every key.
        guard let root = try Yams.compose(yaml: frontMatterText(text), .basic, .default, .utf8)?.mapping else {
            throw YamlError.dataCouldNotBeDecoded(encoding: .utf8)
        }
        func fields(_ mapping: Node.Mapping) -> [String: Node] {
            Dictionary(mapping.map { ($0.key.scalar?.string ?? "", $0.value) }, uniquingKeysWith: { first, _ in first })
        }
        let top = fields(root)
        func string(_ key: String, in mapping: [String: Node] = top) -> String? {
            guard let scalar = mapping[key]?.scalar, !(scalar.style == .plain && ["", "~", "null"].contains(scalar.string)) else { return nil }
            return scalar.string
        }
        func required(_ key: String) throws -> String {
            guard let value = string(key) else { throw StatusError(missing: key) }
            return value
        }
        let instances = try (top["instances"]?.sequence ?? []).map { node -> InstanceSummary in
            guard let item = node.mapping.map(fields), let id = string("id", in: item) else { throw StatusError(missing: "instances[].id") }
            return InstanceSummary(id: id, version: string("version", in: item) ?? "", address: string("address", in: item) ?? "",
                                   pid: Int32(string("pid", in: item) ?? "") ?? 0)
        }
        guard let result = DeploymentResult(rawValue: try required("lastResult")) else { throw StatusError(missing: "lastResult") }
        return EnvironmentStatus(
            environment: try required("environment"), service: try required("service"), version: string("version"),
            commit: string("commit"), manifest: string("manifest"), since: string("since"), instances: instances,
            lastResult: result, lastDeployment: try required("lastDeployment"), failedVersion: string("failedVersion"),
            failedManifest: string("failedManifest"), failedDeployment: string("failedDeployment"), failedReason: string("failedReason"),
            validatedVersion: string("validatedVersion"), validatedFor: string("validatedFor"), validatedIn: string("validatedIn"))
    }

    struct StatusError: Error, CustomStringConvertible {
        let missing: String
        var description: String { "status front matter has no valid \(missing)" }
    }

    /// Reads the front matter back out of a rendered record.
    public static func parseRecord(_ text: String) throws -> DeploymentRecord {
        try YAMLDecoder().decode(DeploymentRecord.self, from: frontMatterText(text), userInfo: [:])
    }

    static func frontMatterText(_ text: String) throws -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.first == "---", let end = lines.dropFirst().firstIndex(of: "---") else {
            throw YamlError.dataCouldNotBeDecoded(encoding: .utf8)
        }
        return lines[1..<end].joined(separator: "\n")
    }

    static func frontMatter(_ value: some Encodable) throws -> String {
        let encoder = YAMLEncoder()
        encoder.options.sortKeys = false
        encoder.options.allowUnicode = true
        return try encoder.encode(value).trimmingCharacters(in: .newlines)
    }

    /// The value as a Mustache context: its JSON form, with flags for empty lists and
    /// readable durations and dates.
    static func context(_ value: some Encodable) throws -> [String: Any] {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp.iso(date))
        }
        let object = try JSONSerialization.jsonObject(with: encoder.encode(value))
        return decorate(object) as? [String: Any] ?? [:]
    }

    /// Adds `hasX` for every list `x`, `duration` for every `milliseconds`, joins log lines,
    /// and escapes `|` and line breaks in strings so they stay inside Markdown table cells.
    /// Templates use triple braces: the output is Markdown, not HTML.
    private static func decorate(_ value: Any) -> Any {
        if let list = value as? [Any] { return list.map(decorate) }
        if let text = value as? String {
            return text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
        }
        guard var object = value as? [String: Any] else { return value }
        for (key, member) in object {
            if let list = member as? [Any] {
                object["has" + key.prefix(1).uppercased() + key.dropFirst()] = !list.isEmpty
                object[key] = key == "lines" ? (list as? [String] ?? []).joined(separator: "\n") : decorate(list)
            } else if key == "milliseconds", let milliseconds = member as? Int {
                object["duration"] = Self.duration(Double(milliseconds) / 1000)
            } else if member is [String: Any] || member is String {
                object[key] = decorate(member)
            }
        }
        object["outcome"].map { object["result"] = $0 }
        return object
    }

    static func duration(_ seconds: Double) -> String {
        seconds < 10 ? String(format: "%.2fs", seconds) : seconds < 60 ? String(format: "%.1fs", seconds) : "\(Int(seconds) / 60)m\(Int(seconds) % 60)s"
    }
}
