public import Foundation
import SlipwayManifest
import Yams
import SlipwayCore

/// The YAML front matter of records and status files: every machine-readable field, one line
/// each where a forge shows it as a table row, lists and maps in flow style. Slipway writes it
/// itself (templates only shape the Markdown body), so it is valid YAML whatever a template does.
///
public enum FrontMatter {
    /// Front matter larger than this is refused unread.
    public static let maximumBytes = 256 * 1024

    // MARK: Writing

    /// A record's front matter, without the `---` lines.
    public static func record(_ record: DeploymentRecord) -> String {
        var lines: [String] = []
        func add(_ key: String, _ value: String?) { if let value { lines.append("\(key): \(value)") } }
        func text(_ key: String, _ value: String?) { add(key, value.map(YAMLText.scalar)) }
        text("deployment", record.deployment.rawValue)
        text("environment", record.environment.rawValue)
        text("service", record.service)
        text("version", record.version)
        text("previousVersion", record.previousVersion)
        add("result", record.result.rawValue)
        text("reason", record.reason)
        text("strategy", record.strategy.rawValue)
        text("trigger", record.trigger.hex)
        text("triggerAuthor", record.triggerAuthor)
        text("triggerSubject", record.triggerSubject)
        text("manifest", record.manifest?.hex)
        text("upstreamDeployment", record.upstreamDeployment?.rawValue)
        add("started", Timestamp.isoMilliseconds(record.started))
        add("finished", Timestamp.isoMilliseconds(record.finished))
        add("timing", record.timing.map { YAMLText.flowMapping([("ms", "\($0.totalMilliseconds)"), ("waiting", "\($0.waitingMilliseconds)")]) })
        add("changes", YAMLText.flowMapping(record.changes.map { ($0.field, YAMLText.flowSequence([YAMLText.scalar($0.from), YAMLText.scalar($0.to)])) }))
        add("instances", instances(record.instances))
        lines.append("phases:")
        lines += record.phases.map { "- " + phase($0) }
        if !record.analysis.isEmpty {
            lines.append("analysis:")
            lines += record.analysis.map { "- " + analysis($0) }
        }
        add("resources", record.resources.map(resources))
        if !record.logs.isEmpty {
            lines.append("logs:")
            lines += record.logs.map { "- \(YAMLText.scalar($0.instance)): " + YAMLText.flowSequence($0.lines.map(YAMLText.scalar)) }
        }
        if let rollback = record.rollback {
            lines.append("rollback:")
            lines += [("trigger", rollback.trigger.rawValue), ("reason", rollback.reason), ("detectedAt", Timestamp.iso(rollback.detectedAt)),
                      ("switchMilliseconds", number(rollback.switchMilliseconds)), ("thresholds", rollback.thresholds),
                      ("afterwards", rollback.afterwards)]
                .filter { !$0.1.isEmpty }.map { "  \($0.0): \(YAMLText.scalar($0.1))" }
        }
        return lines.joined(separator: "\n")
    }

    /// A status file's front matter, without the `---` lines.
    public static func status(_ status: EnvironmentStatus) -> String {
        let fields: [(String, String?)] = [
            ("environment", status.environment.rawValue), ("service", status.service), ("version", status.version),
            ("commit", status.commit?.hex), ("manifest", status.manifest?.hex), ("since", status.since),
        ]
        var lines = fields.compactMap { key, value in value.map { "\(key): \(YAMLText.scalar($0))" } }
        lines.append("instances: \(instances(status.instances))")
        lines.append("lastResult: \(status.lastResult.rawValue)")
        lines.append("lastDeployment: \(YAMLText.scalar(status.lastDeployment.rawValue))")
        let optional: [(String, String?)] = [
            ("failedVersion", status.failedVersion), ("failedManifest", status.failedManifest?.hex), ("failedCommit", status.failedCommit?.hex),
            ("failedDeployment", status.failedDeployment?.rawValue), ("failedReason", status.failedReason),
            ("validatedVersion", status.validatedVersion), ("validatedFor", status.validatedFor?.hex), ("validatedIn", status.validatedIn?.rawValue),
            ("crashLoop", status.crashLoop?.hex)]
        lines += optional.compactMap { key, value in value.map { "\(key): \(YAMLText.scalar($0))" } }
        return lines.joined(separator: "\n")
    }

    /// `{1.1.0: [web-a, web-b]}`: instance ids by version, in order of first appearance.
    static func instances(_ instances: [InstanceSummary]) -> String {
        var versions: [String] = []
        var ids: [String: [String]] = [:]
        for instance in instances {
            if ids[instance.version] == nil { versions.append(instance.version) }
            ids[instance.version, default: []].append(YAMLText.scalar(instance.id))
        }
        return YAMLText.flowMapping(versions.map { ($0, YAMLText.flowSequence(ids[$0] ?? [])) })
    }

    /// `{name: production, result: passed, ms: 1409, steps: [configuration: 0, …]}`: a passed
    /// step is `name: ms`, or `name: {ms, detail}` when it found something worth keeping (who
    /// signed, who approved, what a hook printed); a failed or skipped one also has its result.
    static func phase(_ phase: PhaseReport) -> String {
        if phase.outcome == .skipped, phase.steps.count == 1, let only = phase.steps.first, only.name == PhaseReport.skippedStep {
            return YAMLText.flowMapping([("name", YAMLText.scalar(phase.name)), ("result", "skipped"), ("reason", YAMLText.scalar(only.detail))])
        }
        let steps = phase.steps.map { step -> String in
            let name = YAMLText.scalar(step.name)
            if step.outcome == .passed && step.detail.isEmpty { return "\(name): \(step.milliseconds)" }
            var pairs = step.outcome == .passed ? [] : [("result", step.outcome.rawValue)]
            pairs += [("ms", "\(step.milliseconds)"), ("detail", YAMLText.scalar(step.detail))]
            return "\(name): " + YAMLText.flowMapping(pairs)
        }
        return YAMLText.flowMapping([("name", YAMLText.scalar(phase.name)), ("result", phase.outcome.rawValue), ("ms", "\(phase.milliseconds)"),
                                     ("steps", YAMLText.flowSequence(steps))])
    }

    /// `2`, `2.5`, `0.01`: at most two decimals.
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let rounded = (value * 100).rounded() / 100
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(format: "%.2f", rounded).replacingOccurrences(of: #"0$"#, with: "", options: .regularExpression)
    }

    // MARK: Reading

    /// The text between the opening and closing `---` lines of a document.
    public static func text(of document: String) throws -> String {
        let bytes = Array(document.utf8.prefix(maximumBytes + 8))
        guard bytes.starts(with: Array("---\n".utf8)) else { throw FrontMatterError("the file does not start with a --- line") }
        var lineStart = 4
        while lineStart <= bytes.count {
            let lineEnd = bytes[lineStart...].firstIndex(of: 10) ?? bytes.count
            if bytes[lineStart..<lineEnd].elementsEqual("---".utf8) {
                return String(decoding: bytes[4..<max(4, lineStart - 1)], as: UTF8.self)
            }
            lineStart = lineEnd + 1
        }
        throw FrontMatterError(bytes.count > maximumBytes ? "front matter is larger than \(maximumBytes / 1024) KiB" : "the front matter has no closing --- line")
    }

    /// The top-level scalar fields `keys` of a record or status file, found line by line without
    /// a YAML parser: what `history` needs from a record whose file name does not say it (one
    /// written before names did). Reads plain, single- and double-quoted one-line scalars of
    /// the front matter only; anything else is left out.
    public static func scalars(_ keys: Set<String>, in document: Data) -> [String: String] {
        var found: [String: String] = [:]
        let bytes = document.prefix(maximumBytes)
        guard bytes.starts(with: Array("---\n".utf8)) else { return found }
        var lineStart = bytes.startIndex + 4
        while lineStart < bytes.endIndex, found.count < keys.count {
            let lineEnd = bytes[lineStart...].firstIndex(of: 10) ?? bytes.endIndex
            let line = bytes[lineStart..<lineEnd]
            if line.elementsEqual("---".utf8) { break }
            if let colon = line.firstIndex(of: UInt8(ascii: ":")), line.first != UInt8(ascii: " ") {
                let key = String(decoding: line[..<colon], as: UTF8.self)
                if keys.contains(key), found[key] == nil {
                    found[key] = oneLineScalar(String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingCharacters(in: .whitespaces))
                }
            }
            lineStart = lineEnd + 1
        }
        return found
    }

    /// `x`, `'x'` or `"x"` as its text; nil for anything that is not a one-line scalar.
    static func oneLineScalar(_ text: String) -> String? {
        guard let first = text.first else { return nil }
        if first == "'" || first == "\"" {
            guard text.count >= 2, text.last == first, let node = try? BoundedYAML.compose(text) else { return nil }
            return node.scalar?.string
        }
        return ["[", "{", "|", ">", "&", "*", "!"].contains(first) || text == "~" || text == "null" ? nil : text.components(separatedBy: " #")[0]
    }

    /// The top-level mapping of a front matter, keys to nodes, through the bounded parser.
    static func fields(_ text: String) throws -> Fields {
        guard let root = try BoundedYAML.compose(text)?.mapping else {
            throw FrontMatterError("front matter is not a mapping")
        }
        return Fields(root)
    }

    /// Reads a record written by `record(_:)` back.
    public static func parseRecord(_ document: String) throws -> DeploymentRecord {
        let top = try fields(text(of: document))
        guard let result = DeploymentResult(rawValue: try top.required("result")) else { throw FrontMatterError("result is not a known result") }
        var record = DeploymentRecord(
            deployment: try top.required("deployment", as: DeploymentID.self), environment: try top.required("environment", as: EnvironmentName.self),
            service: try top.required("service"),
            version: try top.required("version"), previousVersion: top.string("previousVersion"), result: result, reason: top.string("reason"),
            strategy: top.string("strategy").flatMap(StrategyName.init(rawValue:)) ?? .none, trigger: try top.required("trigger", as: ObjectID.self),
            triggerAuthor: top.string("triggerAuthor") ?? "", triggerSubject: top.string("triggerSubject") ?? "",
            manifest: top.optional("manifest", as: ObjectID.self),
            started: try top.date("started"), finished: try top.date("finished"),
            changes: parseChanges(top["changes"]),
            phases: try (top["phases"]?.sequence ?? []).map(parsePhase), instances: parseInstances(top["instances"]),
            logs: (top["logs"]?.sequence ?? []).compactMap { item in
                item.mapping?.first.map { InstanceLog(instance: $0.key.scalar?.string ?? "", lines: $0.value.sequence?.compactMap { $0.scalar?.string } ?? []) }
            })
        record.upstreamDeployment = top.optional("upstreamDeployment", as: DeploymentID.self)
        if let timing = top.nested("timing") {
            record.timing = Timing(totalMilliseconds: timing.int("ms") ?? timing.int("totalMilliseconds") ?? 0,
                                   waitingMilliseconds: timing.int("waiting") ?? timing.int("waitingMilliseconds") ?? 0)
        }
        record.analysis = (top["analysis"]?.sequence ?? []).compactMap { $0.mapping.map(Fields.init) }.map(parseAnalysis)
        record.resources = parseResources(top.nested("resources"))
        if let rollback = top.nested("rollback") {
            record.rollback = RollbackReport(
                trigger: rollback.string("trigger").flatMap(RollbackTrigger.init(rawValue:)) ?? .health, reason: rollback.string("reason") ?? "",
                detectedAt: (try? rollback.date("detectedAt")) ?? record.finished,
                switchMilliseconds: Double(rollback.string("switchMilliseconds") ?? "") ?? 0,
                thresholds: rollback.string("thresholds") ?? "", afterwards: rollback.string("afterwards") ?? "")
        }
        return record
    }

    /// `{field: [from, to]}`, or the list of `{field, from, to}` that records had before.
    static func parseChanges(_ node: Node?) -> [FieldChange] {
        if let list = node?.sequence {
            return list.compactMap { $0.mapping.map(Fields.init) }.map {
                FieldChange(field: $0.string("field") ?? "", from: $0.string("from") ?? "", to: $0.string("to") ?? "")
            }
        }
        return (node?.mapping ?? [:]).map { pair in
            let values = pair.value.sequence?.map { $0.scalar?.string ?? "" } ?? []
            return FieldChange(field: pair.key.scalar?.string ?? "", from: values.first ?? "", to: values.last ?? "")
        }
    }

    /// A phase as `phase(_:)` writes it, or as a block mapping with `outcome`, `milliseconds`
    /// and `{name, outcome, milliseconds, detail}` steps, as records had before.
    static func parsePhase(_ node: Node) throws -> PhaseReport {
        guard let phase = node.mapping.map(Fields.init), let name = phase.string("name"),
              let outcome = StepReport.Outcome(rawValue: phase.string("result") ?? phase.string("outcome") ?? "") else {
            throw FrontMatterError("a phase has no name or result")
        }
        if outcome == .skipped, let reason = phase.string("reason") {
            return PhaseReport(name: name, outcome: .skipped, milliseconds: 0,
                               steps: [StepReport(name: PhaseReport.skippedStep, outcome: .skipped, milliseconds: 0, detail: reason)])
        }
        let steps = (phase["steps"]?.sequence ?? []).compactMap { item -> StepReport? in
            guard let mapping = item.mapping else { return nil }
            let fields = Fields(mapping)
            if let name = fields.string("name"), let outcome = StepReport.Outcome(rawValue: fields.string("outcome") ?? "") {
                return StepReport(name: name, outcome: outcome, milliseconds: fields.int("milliseconds") ?? 0, detail: fields.string("detail") ?? "")
            }
            guard let (key, value) = mapping.first, let name = key.scalar?.string else { return nil }
            if let milliseconds = value.scalar.flatMap({ Int($0.string) }) {
                return StepReport(name: name, outcome: .passed, milliseconds: milliseconds, detail: "")
            }
            let step = value.mapping.map(Fields.init)
            return StepReport(name: name, outcome: StepReport.Outcome(rawValue: step?.string("result") ?? "passed") ?? .failed,
                              milliseconds: step?.int("ms") ?? 0, detail: step?.string("detail") ?? "")
        }
        return PhaseReport(name: name, outcome: outcome, milliseconds: phase.int("ms") ?? phase.int("milliseconds") ?? 0, steps: steps)
    }

    /// `{version: [ids]}`, or the list of `{id, version, …}` mappings status files had before.
    static func parseInstances(_ node: Node?) -> [InstanceSummary] {
        if let mapping = node?.mapping {
            return mapping.flatMap { pair in
                (pair.value.sequence ?? []).compactMap { $0.scalar?.string }.map { InstanceSummary(id: $0, version: pair.key.scalar?.string ?? "") }
            }
        }
        return (node?.sequence ?? []).compactMap { item in
            guard let fields = item.mapping.map(Fields.init), let id = fields.string("id") else { return nil }
            return InstanceSummary(id: id, version: fields.string("version") ?? "")
        }
    }

    /// Reads a status file's front matter (this layout or the one before).
    public static func parseStatus(_ document: String) throws -> EnvironmentStatus {
        let top = try fields(text(of: document))
        guard let result = DeploymentResult(rawValue: try top.required("lastResult")) else { throw FrontMatterError("lastResult is not a known result") }
        var status = EnvironmentStatus(
            environment: try top.required("environment", as: EnvironmentName.self), service: try top.required("service"),
            version: top.string("version"), commit: top.optional("commit", as: ObjectID.self), manifest: top.optional("manifest", as: ObjectID.self),
            since: top.string("since"), instances: parseInstances(top["instances"]),
            lastResult: result, lastDeployment: try top.required("lastDeployment", as: DeploymentID.self), failedVersion: top.string("failedVersion"),
            failedManifest: top.optional("failedManifest", as: ObjectID.self), failedCommit: top.optional("failedCommit", as: ObjectID.self),
            failedDeployment: top.optional("failedDeployment", as: DeploymentID.self), failedReason: top.string("failedReason"),
            validatedVersion: top.string("validatedVersion"), validatedFor: top.optional("validatedFor", as: ObjectID.self),
            validatedIn: top.optional("validatedIn", as: DeploymentID.self))
        status.crashLoop = top.optional("crashLoop", as: ObjectID.self)
        return status
    }
}
