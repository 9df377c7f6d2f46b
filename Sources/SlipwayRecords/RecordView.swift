import Foundation
public import SlipwayCore

/// What the body of a record shows, in the order people read it: the result and the reason in
/// the title; who, when, what changed and what serves; for a failure the failing step, the
/// rollback and its evidence, the log tail; then every step, folded away.
extension DeploymentRecord {
    /// `production: web 1.4.1 → 1.4.2 rolled back: error rate 23% over 0.4%`: the record's heading.
    public var title: String { RecordView(record: self).title }
}

struct RecordView {
    let record: DeploymentRecord

    /// `production: web 1.4.1 → 1.4.2 rolled back: error rate 23% over 0.4%`.
    var title: String {
        let head = "\(record.environment): \(record.service) \(record.previousVersion ?? "none") → \(record.version) \(record.result.words)"
        guard record.result != .succeeded, let reason = record.reason?.split(separator: "\n").first else { return head }
        return head + ": " + (reason.count > 160 ? reason.prefix(157) + "…" : String(reason))
    }

    /// One paragraph: how, how long, what changed, what serves now. Who asked for it and when
    /// are in the front matter just above (a forge shows it as a table, `slipway show` as a
    /// header): said again here, they made every record differ from the last in more places.
    var summary: String {
        var parts: [String] = []
        let took = Self.duration(record.timing.map { Double($0.totalMilliseconds) / 1000 } ?? record.finished.timeIntervalSince(record.started))
        parts.append("\(Self.strategyWords[record.strategy] ?? record.strategy.rawValue) in \(took).")
        if let upstream = record.upstreamDeployment { parts.append("Validated upstream in `\(upstream)`.") }
        if record.previousVersion == nil && record.changes.isEmpty {
            parts.append("Initial manifest `\(record.manifest?.short ?? "unknown")`.")
        } else if record.changes.isEmpty {
            parts.append("Manifest unchanged (re-applied).")
        } else if record.changes.map(\.field) != ["version"] {  // the title already says which versions
            parts.append("Changed " + record.changes.map { "`\($0.field)` \($0.from) → \($0.to)" }.joined(separator: ", ") + ".")
        }
        let serving = Dictionary(grouping: record.instances, by: \.version)
        parts.append(serving.isEmpty ? "Nothing runs." :
            "Serving " + serving.sorted { $0.key < $1.key }.map { "\($0.key) × \($0.value.count)" }.joined(separator: ", ") + ".")
        return parts.joined(separator: " ")
    }

    /// The first step that failed, with its phase.
    var failure: [String: String]? {
        for phase in record.phases {
            if let step = phase.steps.first(where: { $0.outcome == .failed }) {
                // The reason is in the title already when it is this step's detail.
                return ["phase": phase.name, "step": step.name, "detail": step.detail == record.reason ? "" : step.detail]
            }
        }
        return nil
    }

    /// One line per phase that ran: its time and its steps in order, with what a step found
    /// when it says more than that it passed. Each step's time is in the front matter: said
    /// twice, every timing made two places in the record differ from the last one.
    var phases: [String] {
        record.phases.filter { $0.outcome != .skipped }.map { phase in
            let steps = phase.steps.map { step -> String in
                let text = step.outcome == .passed ? step.name : "\(step.name) \(step.outcome.rawValue)"
                return step.detail.isEmpty || step.outcome == .failed ? text : "\(text): \(step.detail)"  // a failure is told above
            }
            let outcome = phase.outcome == .passed ? "" : " \(phase.outcome.rawValue) after"
            return "\(phase.name),\(outcome) \(Self.milliseconds(phase.milliseconds)): " + steps.joined(separator: " · ")
        }
    }

    /// `14 steps passed; staging skipped: no upstream environment` (the fold's label).
    var stepsSummary: String {
        let all = record.phases.flatMap(\.steps).filter { $0.name != PhaseReport.skippedStep }
        var parts = ["\(all.filter { $0.outcome == .passed }.count) steps passed"]
        let failed = all.filter { $0.outcome == .failed }.count
        if failed > 0 { parts.append("\(failed) failed") }
        for phase in record.phases where phase.outcome == .skipped {
            parts.append("\(phase.name) skipped" + (phase.steps.first.map { ": \($0.detail)" } ?? ""))
        }
        return parts.joined(separator: "; ")
    }

    /// The Mustache context. Strings in table cells have `|` and line breaks escaped.
    var context: [String: Any] {
        var context: [String: Any] = [
            "title": title, "summary": summary, "stepsSummary": stepsSummary,
            "phases": phases.map { $0.replacingOccurrences(of: "\n", with: " ") }, "environment": record.environment.rawValue, "service": record.service,
            "version": record.version, "previousVersion": record.previousVersion ?? "none", "result": record.result.rawValue,
            "deployment": record.deployment.rawValue, "trigger": record.trigger.hex, "triggerShort": record.trigger.short,
            "triggerAuthor": record.triggerAuthor, "triggerSubject": record.triggerSubject, "strategy": record.strategy.rawValue,
            "started": Timestamp.iso(record.started), "finished": Timestamp.iso(record.finished),
            "logs": record.logs.map { ["instance": $0.instance, "lines": $0.lines.joined(separator: "\n"), "fence": Self.fence(around: $0.lines)] },
        ]
        context["reason"] = record.reason
        context["failure"] = failure?.mapValues { $0.replacingOccurrences(of: "\n", with: " ") }
        if let rollback = record.rollback {
            context["rollback"] = ["trigger": rollback.trigger.rawValue, "reason": rollback.reason, "detectedAt": Timestamp.iso(rollback.detectedAt),
                                   "switchMilliseconds": FrontMatter.number(rollback.switchMilliseconds), "thresholds": rollback.thresholds,
                                   "afterwards": rollback.afterwards]
        }
        context["hasAnalysis"] = !record.analysis.isEmpty
        context["analysis"] = record.analysis.map { step -> [String: Any] in
            func metrics(_ metrics: Metrics?) -> [String: String]? {
                metrics.map { ["requests": "\($0.requests)", "errorRate": FrontMatter.number($0.errorRate), "ms": "\($0.responseMilliseconds)"] }
            }
            var row: [String: Any] = ["step": Self.cell(step.step), "weight": "\(step.weight)", "held": Self.milliseconds(step.milliseconds),
                                      "decision": step.decision.rawValue, "reason": Self.cell(step.reason)]
            row["canary"] = metrics(step.canary)
            row["baseline"] = metrics(step.baseline)
            return row
        }
        context["hasHosts"] = !record.hosts.isEmpty
        context["hosts"] = record.hosts.map { host -> [String: String] in
            ["host": Self.cell(host.host), "instances": "\(host.instances)", "version": Self.cell(host.version), "result": Self.cell(host.result),
             "since": host.since.map { Timestamp.iso($0) } ?? "—"]
        }
        let readings = record.analysis.flatMap { step in step.queries.map { (step.step, $0) } }
        context["hasQueries"] = !readings.isEmpty
        context["queries"] = readings.map { step, reading -> [String: String] in
            ["step": Self.cell(step), "name": Self.cell(reading.name), "value": QueryReading.text(reading.value),
             "previous": QueryReading.text(reading.previous), "bound": Self.cell(reading.bound), "verdict": Self.cell(String(reading.verdict.prefix(200)))]
        }
        // Post-deploy's figures alone, with no rule to judge them, stay in the front matter.
        let steps = record.analysis.compactMap { step in step.resources.map { (step.step, $0) } }
        let postDeploy = record.resources.flatMap { steps.isEmpty && $0.verdict == "recorded" ? nil : ("post-deploy", $0) }
        let usage = steps + (postDeploy.map { [$0] } ?? [])
        context["hasResources"] = !usage.isEmpty
        context["resources"] = usage.map { step, comparison -> [String: String] in
            func figures(_ figures: ResourceFigures?, _ prefix: String) -> [String: String] {
                guard let figures else { return [prefix + "CPU": "—", prefix + "RSS": "—", prefix + "Files": "—"] }
                return [prefix + "CPU": String(format: "%.1f%%", figures.cpuPercent) + (figures.cpuPerRequest.map { String(format: ", %.2f ms/req", $0) } ?? ""),
                        prefix + "RSS": ByteCount.text(figures.residentBytes), prefix + "Files": "\(figures.openFiles)"]
            }
            return ["step": Self.cell(step), "verdict": Self.cell(String(comparison.verdict.prefix(200)))]
                .merging(figures(comparison.new, "new")) { first, _ in first }.merging(figures(comparison.previous, "previous")) { first, _ in first }
        }
        context["hasNotifications"] = !record.notifications.isEmpty
        context["notifications"] = record.notifications.map { delivery -> [String: String] in
            ["event": delivery.event.rawValue, "channel": Self.cell(delivery.channel), "state": delivery.state.rawValue,
             "attempts": "\(delivery.attempts)", "detail": Self.cell(String(delivery.detail.prefix(200)))]
        }
        return context
    }

    static let strategyWords: [StrategyName: String] = [.rolling: "Rolling update", .canary: "Canary", .blueGreen: "Blue-green switch", .none: "Refused"]

    static func cell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }

    /// A code fence longer than any run of backticks in `lines`, so log text cannot end it.
    static func fence(around lines: [String]) -> String {
        var longest = 0
        for line in lines {
            var run = 0
            for character in line {
                run = character == "`" ? run + 1 : 0
                longest = max(longest, run)
            }
        }
        return String(repeating: "`", count: max(3, longest + 1))
    }

    static func quote(_ subject: String) -> String { "“\(subject.replacingOccurrences(of: "\n", with: " "))”" }

    static func milliseconds(_ value: Int) -> String { value < 1000 ? "\(value) ms" : duration(Double(value) / 1000) }

    static func duration(_ seconds: Double) -> String {
        seconds < 10 ? String(format: "%.2f s", seconds) : seconds < 60 ? String(format: "%.1f s", seconds) : "\(Int(seconds) / 60) min \(Int(seconds) % 60) s"
    }
}

extension DeploymentResult {
    /// `rolled back`, as a title says it.
    public var words: String { rawValue.replacingOccurrences(of: "-", with: " ") }
}

extension String {
    var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}
