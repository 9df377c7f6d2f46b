public import Foundation
import Yams
import SlipwayCore

/// Parses and validates one manifest. Every problem is reported as `path:line:col: message`.
public enum ManifestParser {
    /// Larger manifests are refused before they reach the YAML parser.
    public static let maximumSize = 256 * 1024

    /// Parses `data` (the content of `path`, `Environments/<env>.yaml`).
    /// - Throws: `ManifestErrors` with every problem found.
    public static func parse(_ data: Data, path: String) throws(ManifestErrors) -> Manifest {
        guard data.count <= maximumSize else {
            throw ManifestErrors([Diagnostic(path: path, line: 1, column: 1,
                message: "manifest is larger than the limit of \(maximumSize / 1024) KiB")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ManifestErrors([Diagnostic(path: path, line: 1, column: 1, message: "manifest is not valid UTF-8")])
        }
        let root: Node
        do {
            // The encoding is given: Yams' default reads the whole process environment on every call.
            // `.basic` resolves no implicit tags: the reader types scalars itself, and the default
            // resolver ran ICU regular expressions on every scalar (a fifth of `plan`'s time).
            guard let node = try BoundedYAML.compose(text) else {
                throw ManifestErrors([Diagnostic(path: path, line: 1, column: 1, message: "manifest is empty")])
            }
            root = node
        } catch let error as ManifestErrors {
            throw error
        } catch {
            throw ManifestErrors([diagnostic(for: error, path: path)])
        }
        let reader = NodeReader(path: path)
        let manifest = ManifestDecoder(reader: reader).manifest(root)
        if let manifest, reader.diagnostics.isEmpty { return manifest }
        throw ManifestErrors(reader.diagnostics.isEmpty
            ? [Diagnostic(path: path, line: 1, column: 1, message: "manifest is invalid")] : reader.diagnostics)
    }

    /// Parses `Notifications/all.yaml`: `notify:` channels for every environment, written as in a manifest.
    public static func parseNotify(_ data: Data, path: String) throws(ManifestErrors) -> [NotifyChannel] {
        guard data.count <= maximumSize, let text = String(data: data, encoding: .utf8) else {
            throw ManifestErrors([Diagnostic(path: path, line: 1, column: 1, message: "larger than \(maximumSize / 1024) KiB, or not UTF-8")])
        }
        let root: Node
        do {
            guard let node = try BoundedYAML.compose(text) else { return [] }
            root = node
        } catch let error as ManifestErrors {
            throw error
        } catch {
            throw ManifestErrors([diagnostic(for: error, path: path)])
        }
        let reader = NodeReader(path: path)
        let decoder = ManifestDecoder(reader: reader)
        let channels = reader.fields(root, at: "", allowed: ["notify"]).map(decoder.notify) ?? []
        guard reader.diagnostics.isEmpty else { throw ManifestErrors(reader.diagnostics) }
        return channels
    }

    static func diagnostic(for error: any Error, path: String) -> Diagnostic {
        if let refusal = error as? BoundedYAML.Refusal {
            return Diagnostic(path: path, line: refusal.line, column: refusal.column, message: refusal.message)
        }
        guard let yaml = error as? YamlError else {
            return Diagnostic(path: path, line: 1, column: 1, message: "\(error)")
        }
        switch yaml {
        case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
            return Diagnostic(path: path, line: mark.line, column: mark.column, message: "malformed YAML: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            return Diagnostic(path: path, line: context.mark.line, column: context.mark.column,
                              message: "duplicate key \(duplicates.map { "\"\($0)\"" }.joined(separator: ", "))")
        default:
            return Diagnostic(path: path, line: 1, column: 1, message: "malformed YAML: \(yaml)")
        }
    }
}

/// Turns the YAML tree into a `Manifest`, section by section, applying the documented defaults.
struct ManifestDecoder {
    let reader: NodeReader

    static let topLevelKeys = ["service", "version", "upstream", "run", "target", "traffic", "health", "strategy", "gates", "rollback", "hooks", "notify", "suspended"]

    func manifest(_ root: Node) -> Manifest? {
        guard let top = reader.fields(root, at: "", allowed: Self.topLevelKeys) else { return nil }
        let service = reader.string(top, "service", required: true,
            rule: "letters, digits, '-', '_' and '.', at most 63", isValid: Rules.isName)
        let version = reader.string(top, "version", required: true,
            rule: "letters, digits and . _ + - ~, at most 128", isValid: Rules.isVersion)
        let upstream = reader.string(top, "upstream", rule: EnvironmentName.rule) { EnvironmentName($0) != nil }
        let run = self.run(top)
        let traffic = self.traffic(top)
        let (target, fleet) = self.target(top)
        if run?.artifact != nil, target.kind != .ssh {
            reader.report(top["run"]?.mapping?.first { $0.key.scalar?.string == "artifact" }?.key, "run.artifact is for ssh targets: on this machine run.command names the program itself")
        }
        let manifest = Manifest(
            service: service ?? "", version: version ?? "",
            upstream: upstream.flatMap { EnvironmentName($0) },
            run: run ?? RunSpec(command: [], env: [:], secrets: [:], replicas: 1, workingDirectory: nil, stopTimeout: .seconds(10)),
            target: target, traffic: traffic ?? TrafficSpec(listen: ListenAddress(host: "127.0.0.1", port: 1)),
            health: health(top), strategy: strategy(top), gates: gates(top), rollback: rollback(top)
        )
        checkResourceWindows(manifest, top)
        guard service != nil, version != nil, run != nil, traffic != nil else { return nil }
        var result = manifest
        result.hooks = hooks(top)
        result.notify = notify(top)
        result.fleet = fleet
        result.suspended = reader.string(top, "suspended", rule: "one line of text", isValid: { !$0.contains("\n") && $0.utf8.count <= 500 })
        return result
    }

    /// `rollback.cpuIncrease` and `memoryIncrease` are judged over windows that start after
    /// `rollback.warmup`: a canary step or a rolling batch is extended to three times its length
    /// at most, so warm-up must end before that; blue-green (and rolling without analysis) has
    /// only `gates.observe` to judge them over.
    func checkResourceWindows(_ manifest: Manifest, _ top: Fields) {
        let rules = manifest.rollback.resources
        guard rules.cpuIncrease != nil || rules.memoryIncrease != nil else { return }
        let node = top["rollback"]?.mapping?.first { ["cpuIncrease", "memoryIncrease"].contains($0.key.scalar?.string ?? "") }?.key
        let held: (String, TimeSpan)? = switch manifest.strategy {
        case .canary(let spec): ("strategy.canary.stepDuration", spec.stepDuration)
        case .rolling(let spec): spec.analysis.map { ("strategy.rolling.analysis", $0) }
        case .blueGreen: nil
        }
        if let (field, span) = held, rules.warmup.milliseconds >= span.milliseconds * 3 {
            reader.report(node, "rollback.warmup (\(rules.warmup)) must be shorter than three times \(field) (\(span)): no analysis window would start after warm-up, and the step would roll back as inconclusive")
        } else if held == nil, manifest.gates.observe.map({ $0.milliseconds <= rules.warmup.milliseconds }) ?? true {
            reader.report(node, "rollback.cpuIncrease and memoryIncrease need windows to compare over after rollback.warmup (\(rules.warmup)): a canary, rolling with analysis, or gates.observe longer than the warm-up")
        }
    }

    func run(_ top: Fields) -> RunSpec? {
        guard let run = reader.section(top, "run", allowed: ["command", "env", "secrets", "replicas", "workingDirectory", "stopTimeout", "artifact"], required: true)
        else { return nil }
        let command = reader.stringList(run, "command", required: true)
        if let command, command.isEmpty || command[0].isEmpty { reader.report(run["command"], "run.command must name a program") }
        checkPlaceholders(run, "command", also: ["artifact"])
        var env: [String: String] = [:]
        for (name, value, node) in reader.stringMap(run, "env") {
            guard Rules.isVariable(name) else {
                reader.report(node, "run.env: \"\(name.clipped)\" is not a valid variable name")
                continue
            }
            env[name] = value
        }
        var secrets: [String: SecretReference] = [:]
        for (name, value, node) in reader.stringMap(run, "secrets") {
            guard Rules.isVariable(name) else {
                reader.report(node, "run.secrets: \"\(name.clipped)\" is not a valid variable name")
                continue
            }
            guard value.hasPrefix("env:"), Rules.isVariable(String(value.dropFirst(4))) else {
                // The value is not echoed: it may be the secret itself written in by mistake.
                reader.report(node, "run.secrets.\(name) must be a reference such as env:VARIABLE_NAME, never the secret itself")
                continue
            }
            if env[name] != nil { reader.report(node, "run.secrets.\(name) is also set in run.env") }
            secrets[name] = SecretReference(variable: String(value.dropFirst(4)))
        }
        let workingDirectory = reader.string(run, "workingDirectory",
            rule: "an absolute path, or a path inside the ops repo without '..'", isValid: Rules.isSafeDirectory)
        let artifact = artifact(run)
        if artifact == nil, run["artifact"] == nil, let command, command.contains(where: { Placeholders.names(in: $0).contains("artifact") }) {
            reader.report(run["command"], "run.command uses {artifact}, but run.artifact names none")
        }
        guard let command, !command.isEmpty else { return nil }
        return RunSpec(
            command: command, env: env, secrets: secrets,
            replicas: reader.int(run, "replicas", default: 1, range: 1...64),
            workingDirectory: workingDirectory,
            stopTimeout: reader.span(run, "stopTimeout", default: .seconds(10)),
            artifact: artifact
        )
    }

    /// `run.artifact: { file: bin/web, sha256: … }`.
    func artifact(_ run: Fields) -> Artifact? {
        guard let fields = reader.section(run, "artifact", allowed: ["file", "sha256"]) else { return nil }
        let file = reader.string(fields, "file", required: true, rule: "a path inside the ops repo without '..' (not absolute), or state:NAME",
                                 isValid: Artifact.isValid(file:))
        let sha256 = reader.string(fields, "sha256", required: true, rule: "64 hexadecimal digits",
                                   isValid: { $0.utf8.count == 64 && $0.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } })
        guard let file, let sha256 else { return nil }
        return Artifact(file: file, sha256: sha256)
    }

    func traffic(_ top: Fields) -> TrafficSpec? {
        guard let traffic = reader.section(top, "traffic", allowed: ["listen", "stats"], required: true),
              let listen = address(traffic, "listen", required: true) else { return nil }
        return TrafficSpec(listen: listen, stats: address(traffic, "stats"))
    }

    func address(_ fields: Fields, _ key: String, required: Bool = false) -> ListenAddress? {
        reader.string(fields, key, required: required, rule: "host:port with an IPv4 host, localhost or *, port 1–65535") {
            ListenAddress(text: $0) != nil
        }.flatMap(ListenAddress.init(text:))
    }

    func health(_ top: Fields) -> HealthSpec {
        let health = reader.section(top, "health", allowed: ["http", "interval", "timeout", "healthyThreshold", "unhealthyThreshold", "startTimeout"])
        let http = health.flatMap { httpCheck($0, "http") } ?? HTTPCheck(path: "/healthz", expect: 200)
        guard let health else {
            return HealthSpec(http: http, interval: .seconds(1), timeout: .seconds(1), healthyThreshold: 2, unhealthyThreshold: 2, startTimeout: .seconds(60))
        }
        // Both become HAProxy timers (`inter`, `timeout check`), which hold at most 24.8 days
        // and refuse `add server` beyond; a day is already far past any useful check.
        let minimum = TimeSpan(milliseconds: 100), maximum = TimeSpan.seconds(24 * 3600)
        return HealthSpec(
            http: http,
            interval: reader.span(health, "interval", default: .seconds(1), minimum: minimum, maximum: maximum),
            timeout: reader.span(health, "timeout", default: .seconds(1), minimum: minimum, maximum: maximum),
            healthyThreshold: reader.int(health, "healthyThreshold", default: 2, range: 1...100),
            unhealthyThreshold: reader.int(health, "unhealthyThreshold", default: 2, range: 1...100),
            startTimeout: reader.span(health, "startTimeout", default: .seconds(60), minimum: .seconds(1))
        )
    }

    /// `{ path, expect }`, plus `contains` (a text the body must hold) where `withBody`.
    func httpCheck(_ parent: Fields, _ key: String, withBody: Bool = false) -> HTTPCheck? {
        guard let http = reader.section(parent, key, allowed: ["path", "expect"] + (withBody ? ["contains"] : [])) else { return nil }
        let path = reader.string(http, "path", rule: "starts with /; letters, digits and / . _ ~ % ? & = - only", isValid: Rules.isHTTPPath)
        var check = HTTPCheck(path: path ?? "/healthz", expect: reader.int(http, "expect", default: 200, range: 100...599))
        check.contains = withBody ? reader.string(http, "contains") : nil
        return check
    }

    func strategy(_ top: Fields) -> Strategy {
        let fallback = Strategy.rolling(RollingSpec(batchSize: 1))
        guard let strategy = reader.section(top, "strategy", allowed: ["rolling", "canary", "blueGreen"]) else { return fallback }
        guard strategy.entries.count == 1, let name = strategy.entries.keys.first else {
            reader.report(strategy.node, "strategy must name exactly one of rolling, canary, blueGreen")
            return fallback
        }
        switch name {
        case "rolling":
            guard let rolling = reader.section(strategy, "rolling", allowed: ["batchSize", "analysis", "analysisInterval"]) else { return fallback }
            return .rolling(RollingSpec(
                batchSize: reader.int(rolling, "batchSize", default: 1, range: 1...64),
                analysis: reader.optionalSpan(rolling, "analysis", minimum: .seconds(1)),
                analysisInterval: reader.span(rolling, "analysisInterval", default: .seconds(10), minimum: .seconds(1))))
        case "canary":
            guard let canary = reader.section(strategy, "canary", allowed: ["steps", "stepDuration", "analysisInterval"]) else { return fallback }
            return .canary(CanarySpec(
                steps: canarySteps(canary),
                stepDuration: reader.span(canary, "stepDuration", default: .seconds(60)),
                analysisInterval: reader.span(canary, "analysisInterval", default: .seconds(10), minimum: .seconds(1))
            ))
        default:
            let blueGreen = reader.section(strategy, "blueGreen", allowed: ["preview", "keepPrevious", "autoPromote", "approvalTimeout"])
            return .blueGreen(BlueGreenSpec(
                preview: blueGreen.flatMap { address($0, "preview") },
                keepPrevious: blueGreen.map { reader.span($0, "keepPrevious", default: .seconds(600), minimum: .init(milliseconds: 0)) } ?? .seconds(600),
                autoPromote: blueGreen.map { reader.bool($0, "autoPromote", default: true) } ?? true,
                approvalTimeout: blueGreen.map { reader.span($0, "approvalTimeout", default: .seconds(3600), minimum: .seconds(1)) } ?? .seconds(3600)
            ))
        }
    }

    func canarySteps(_ canary: Fields) -> [Int] {
        let fallback = [10, 25, 50, 100]
        guard let node = canary["steps"] else { return fallback }
        guard let items = node.sequence?.map({ $0.scalar.flatMap { Int($0.string) } }),
              !items.isEmpty, items.allSatisfy({ $0 != nil }) else {
            reader.report(node, "strategy.canary.steps must be a list of whole percentages such as [10, 25, 50, 100]")
            return fallback
        }
        let steps = items.compactMap { $0 }
        guard zip(steps, steps.dropFirst()).allSatisfy({ $0 < $1 }), steps.first ?? 0 > 0, steps.last == 100 else {
            reader.report(node, "strategy.canary.steps must increase, start above 0 and end at 100")
            return fallback
        }
        return steps
    }
}
