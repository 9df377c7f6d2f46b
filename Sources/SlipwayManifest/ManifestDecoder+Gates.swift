public import Foundation
import Yams

/// The gates, hooks and rollback sections of a manifest.
extension ManifestDecoder {
    /// `gates.monitor` is the soak in the upstream: without one it has nothing to watch, so
    /// `validate` refuses it as `apply` would.
    private func monitor(_ gates: Fields, upstream: Bool) -> TimeSpan? {
        let span = reader.optionalSpan(gates, "monitor")
        if span != nil, !upstream {
            reader.report(gates["monitor"], "gates.monitor is the soak time in the upstream environment: set upstream, or use gates.observe to watch this one after the rollout")
        }
        return span
    }

    func gates(_ top: Fields) -> Gates {
        let empty = Gates(preflight: [], smoke: [], integration: [], monitor: nil, observe: nil)
        guard let gates = reader.section(top, "gates", allowed: ["preflight", "smoke", "integration", "monitor", "observe", "checklist", "approvalTimeout", "endpoints", "monitoring"]) else { return empty }
        var result = Gates(
            preflight: commandGates(gates, "preflight"),
            smoke: list(gates, "smoke").enumerated().compactMap { index, node in
                guard let fields = reader.fields(node, at: "gates.smoke[\(index)]", allowed: ["name", "http"]),
                      let http = httpCheck(fields, "http", withBody: true) else { return nil }
                return SmokeCheck(name: reader.string(fields, "name") ?? "smoke-\(index + 1)", http: http)
            },
            integration: commandGates(gates, "integration"),
            monitor: monitor(gates, upstream: top["upstream"] != nil),
            observe: reader.optionalSpan(gates, "observe", minimum: .seconds(1))
        )
        result.checklist = reader.stringList(gates, "checklist") ?? []
        result.approvalTimeout = reader.span(gates, "approvalTimeout", default: .seconds(3600), minimum: .seconds(1))
        result.endpoints = reader.stringList(gates, "endpoints") ?? []
        for (index, path) in result.endpoints.enumerated() where !Rules.isHTTPPath(path) {
            reader.report(gates["endpoints"]?.sequence?[index], "gates.endpoints: \"\(path.clipped)\" is not a path (starts with /; letters, digits and / . _ ~ % ? & = -)")
        }
        if let monitoring = reader.section(gates, "monitoring", allowed: ["path", "url"]) {
            result.monitoring = Monitoring(
                path: reader.string(monitoring, "path", rule: "starts with /", isValid: Rules.isHTTPPath),
                url: reader.string(monitoring, "url", rule: "http(s)://host[:port]/path", isValid: Rules.isHTTPURL))
        }
        return result
    }

    func hooks(_ top: Fields) -> Hooks {
        guard let hooks = reader.section(top, "hooks", allowed: ["preDeploy", "postDeploy", "onRollback"]) else { return Hooks() }
        for key in ["preDeploy", "postDeploy", "onRollback"] { checkPlaceholders(hooks, key) }
        return Hooks(preDeploy: reader.stringList(hooks, "preDeploy"), postDeploy: reader.stringList(hooks, "postDeploy"),
                     onRollback: reader.stringList(hooks, "onRollback"))
    }

    func commandGates(_ gates: Fields, _ key: String) -> [CommandGate] {
        let notes = key == "preflight"
        return list(gates, key).enumerated().compactMap { index, node in
            let location = "gates.\(key)[\(index)]"
            let allowed = ["name", "command", "timeout", "backup"] + (notes ? ["note"] : [])
            guard let fields = reader.fields(node, at: location, allowed: allowed) else { return nil }
            let note = notes ? noteCheck(fields) : nil
            let command = note == nil ? reader.stringList(fields, "command", required: true) : reader.stringList(fields, "command")
            if note != nil && command != nil {
                reader.report(fields.node, "\(location) is either a command or a note, not both")
                return nil
            }
            guard note != nil || !(command ?? []).isEmpty else { return nil }
            checkPlaceholders(fields, "command")
            return CommandGate(
                name: reader.string(fields, "name", rule: "letters, digits, '-', '_' and '.'", isValid: Rules.isName) ?? "\(key)-\(index + 1)",
                command: command ?? [],
                note: note,
                timeout: reader.span(fields, "timeout", default: .seconds(300)),
                backup: reader.bool(fields, "backup", default: false)
            )
        }
    }

    func noteCheck(_ gate: Fields) -> NoteCheck? {
        guard let note = reader.section(gate, "note", allowed: ["ref", "contains"]) else { return nil }
        let ref = reader.string(note, "ref", rule: "a ref under refs/notes/", isValid: { $0.hasPrefix("refs/notes/") && Rules.isRef($0) })
        return NoteCheck(ref: ref ?? "refs/notes/ci", contains: reader.string(note, "contains") ?? "passed")
    }

    func list(_ fields: Fields, _ key: String) -> [Node] {
        guard let node = fields[key] else { return [] }
        guard let sequence = node.sequence else {
            reader.report(node, "\(fields.keyPath(key)) must be a list")
            return []
        }
        return Array(sequence)
    }

    func rollback(_ top: Fields) -> RollbackPolicy {
        let rollback = reader.section(top, "rollback", allowed: ["errorRateIncrease", "latencyIncrease", "minRequests", "onFailure", "restore", "gated", "metrics", "prometheus",
                                                                      "cpuIncrease", "memoryIncrease", "memoryLimit", "warmup"])
        if let rollback { checkPlaceholders(rollback, "restore") }
        var onFailure = RollbackPolicy.OnFailure.record
        if let rollback, let text = reader.string(rollback, "onFailure") {
            if let value = RollbackPolicy.OnFailure(rawValue: text) {
                onFailure = value
            } else {
                reader.report(rollback["onFailure"], "rollback.onFailure must be record or revert\(Spelling.hint(for: text, among: ["record", "revert"]))")
            }
        }
        var policy = RollbackPolicy(
            errorRateIncrease: rollback.map { reader.percentage($0, "errorRateIncrease", default: 5, maximum: 100) } ?? 5,
            latencyIncrease: (rollback.map { reader.percentage($0, "latencyIncrease", default: 50, maximum: 10_000) } ?? 50) / 100,
            minRequests: rollback.map { reader.int($0, "minRequests", default: 50, range: 1...1_000_000) } ?? 50,
            onFailure: onFailure,
            restore: rollback.flatMap { reader.stringList($0, "restore") },
            gated: rollback.map { reader.bool($0, "gated", default: false) } ?? false
        )
        if let rollback {
            policy.metrics = metrics(rollback)
            policy.prometheus = reader.string(rollback, "prometheus", rule: "http(s)://host[:port]", isValid: Rules.isHTTPURL)
            if !policy.metrics.isEmpty, rollback["prometheus"] == nil {
                reader.report(rollback["metrics"], "rollback.metrics needs rollback.prometheus: the Prometheus server the queries go to")
            }
            policy.resources = resources(rollback)
        }
        return policy
    }

    /// `rollback.cpuIncrease`, `memoryIncrease` (percentages), `memoryLimit` (a size), `warmup`.
    func resources(_ rollback: Fields) -> ResourceRules {
        func increase(_ key: String) -> Double? { rollback[key] == nil ? nil : reader.percentage(rollback, key, default: 0, maximum: 10_000) / 100 }
        return ResourceRules(cpuIncrease: increase("cpuIncrease"), memoryIncrease: increase("memoryIncrease"),
                      memoryLimit: reader.byteSize(rollback, "memoryLimit", range: (1 << 20)...(1 << 40)),
                      warmup: reader.span(rollback, "warmup", default: ResourceRules.defaultWarmup, minimum: .init(milliseconds: 0),
                                          maximum: .init(milliseconds: 3_600_000)))
    }

    /// `rollback.metrics: [ { name, query, max | maxIncrease } ]`.
    func metrics(_ rollback: Fields) -> [MetricQuery] {
        list(rollback, "metrics").enumerated().compactMap { index, node in
            let location = "rollback.metrics[\(index)]"
            guard let fields = reader.fields(node, at: location, allowed: ["name", "query", "max", "maxIncrease"]) else { return nil }
            let name = reader.string(fields, "name", required: true, rule: "letters, digits, '-', '_' and '.'", isValid: Rules.isName)
            let query = reader.string(fields, "query", required: true, rule: "PromQL of at most 4 KiB", isValid: { !$0.isEmpty && $0.utf8.count <= 4096 })
            var max: Double?
            if let node = fields["max"] {
                max = node.scalar.flatMap { Double($0.string) }.flatMap { $0.isFinite ? $0 : nil }
                if max == nil { reader.report(node, "\(location).max must be a number") }
            }
            let increase = fields["maxIncrease"] == nil ? nil : reader.percentage(fields, "maxIncrease", default: 0, maximum: 10_000) / 100
            if fields["max"] == nil && fields["maxIncrease"] == nil {
                reader.report(fields.node, "\(location) needs a bound: max (a value) or maxIncrease (a percentage over the previous version)")
            }
            guard let name, let query else { return nil }
            let metric = MetricQuery(name: name, query: query, max: max, maxIncrease: increase)
            for placeholder in metric.placeholderNames where !MetricQuery.placeholders.contains(placeholder) {
                reader.report(fields["query"], "\(location).query: unknown placeholder {\(placeholder)}\(Spelling.hint(for: placeholder, among: MetricQuery.placeholders)) (known: {version}, {env}, {service})")
            }
            return metric
        }
    }

    /// Reports `{name}` placeholders that Slipway does not know (usually typos).
    /// `also`: placeholders known in this command only (`{artifact}` in `run.command`).
    func checkPlaceholders(_ fields: Fields, _ key: String, also: [String] = []) {
        guard let items = fields[key]?.sequence else { return }
        let known = Placeholders.known + also
        for item in items {
            for name in Placeholders.names(in: item.scalar?.string ?? "") where !known.contains(name) {
                reader.report(item, "\(fields.keyPath(key)): unknown placeholder {\(name)}\(Spelling.hint(for: name, among: known))")
            }
        }
    }
}
