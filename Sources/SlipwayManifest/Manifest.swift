public import SlipwayCore
/// The desired state of one environment, as written in `Environments/<env>.yaml`.
/// README ("Manifest reference") documents every field and its default.
public struct Manifest: Sendable, Hashable, Codable {
    /// Name of the service (letters, digits, `-`, `_`, `.`).
    public var service: String
    /// The version to run; passed to the command as `{version}`.
    public var version: String
    /// An environment that must run this version successfully first.
    public var upstream: EnvironmentName?
    // Sections behind a reference (see `Boxed`): a manifest of 700 bytes copies as one of 100.
    @Boxed public var run: RunSpec
    public var target: TargetSpec
    @Boxed public var traffic: TrafficSpec
    @Boxed public var health: HealthSpec
    @Boxed public var strategy: Strategy
    @Boxed public var gates: Gates
    @Boxed public var rollback: RollbackPolicy
    @Boxed public var hooks: Hooks = Hooks()
    /// Set by `slipway suspend` (who, when, why): nothing is deployed, healed or repaired in this
    /// environment until `slipway resume` removes it; what runs is left as it is.
    public var suspended: String?
    /// `target: { kind: ssh, … }`: the machines instances run on.
    public var fleet: SSHFleet? = nil
    /// Where this environment's events are sent (`notify:`).
    public var notify: [NotifyChannel] = []
}

/// Commands run at points of the pipeline, with the deployment's context in `SLIPWAY_*`
/// variables; their output is kept in the record.
public struct Hooks: Sendable, Hashable, Codable {
    /// End of pre-flight; a failure stops the run before anything is deployed.
    public var preDeploy: [String]?
    /// End of post-deploy; a failure rolls back.
    public var postDeploy: [String]?
    /// After any rollback; a failure is recorded.
    public var onRollback: [String]?
    public init(preDeploy: [String]? = nil, postDeploy: [String]? = nil, onRollback: [String]? = nil) {
        self.preDeploy = preDeploy
        self.postDeploy = postDeploy
        self.onRollback = onRollback
    }
}

/// How to start one instance.
public struct RunSpec: Sendable, Hashable, Codable {
    /// argv; placeholders are substituted per argument, never through a shell.
    public var command: [String]
    /// Plain environment variables.
    public var env: [String: String]
    /// Environment variables whose values are resolved at deploy time and never written.
    public var secrets: [String: SecretReference]
    public var replicas: Int
    /// Where instances run: absolute, or relative to the ops repo (never outside it).
    public var workingDirectory: String?
    /// Time between SIGTERM and SIGKILL when an instance is stopped.
    public var stopTimeout: TimeSpan
    /// The program, copied to each host of an ssh target and verified there (`{artifact}`).
    public var artifact: Artifact? = nil
}

/// Where a secret's value comes from. Only `env:NAME` (Slipway's own environment) for now.
public struct SecretReference: Sendable, Hashable, TextCodable {
    public let variable: String
    public var description: String { "env:\(variable)" }

    public init(variable: String) { self.variable = variable }

    public init?(text: String) {
        guard text.hasPrefix("env:") else { return nil }
        self.init(variable: String(text.dropFirst("env:".count)))
    }
}

public struct TargetSpec: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        case process, ssh, kubernetes
    }
    public var kind: Kind
}

public struct TrafficSpec: Sendable, Hashable, Codable {
    /// The address HAProxy listens on for this environment.
    public var listen: ListenAddress
    /// Where HAProxy serves its own Prometheus exporter (`/metrics`) and stats page (`/stats`).
    public var stats: ListenAddress? = nil
}

extension Manifest {
    /// The addresses this environment binds, by the key that names them: its front, the
    /// preview of a blue-green strategy, HAProxy's stats.
    public var addresses: [(key: String, address: ListenAddress)] {
        var addresses = [("traffic.listen", traffic.listen)]
        if case .blueGreen(let spec) = strategy, let preview = spec.preview { addresses.append(("preview", preview)) }
        if let stats = traffic.stats { addresses.append(("traffic.stats", stats)) }
        return addresses
    }
}

/// `host:port`, host an IPv4 literal, `localhost` or `*`.
public struct ListenAddress: Sendable, Hashable, TextCodable {
    public var host: String
    public var port: Int
    public var description: String { "\(host):\(port)" }
    /// `http://host:port`, with `*` (every address) reached as 127.0.0.1.
    public var url: String { "http://\(host == "*" ? "127.0.0.1" : host):\(port)" }

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init?(text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1...65535).contains(port) else { return nil }
        let host = String(text[..<colon])
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        let isIPv4 = octets.count == 4 && octets.allSatisfy { UInt8($0) != nil }
        guard isIPv4 || host == "localhost" || host == "*" else { return nil }
        self.init(host: host, port: port)
    }

    /// Whether two addresses cannot both be bound: the same port on the same host, or on every
    /// address (`*`, `0.0.0.0`) and any host.
    public func overlaps(_ other: ListenAddress) -> Bool {
        func normal(_ host: String) -> String {
            switch host {
            case "*", "0.0.0.0": "*"
            case "localhost": "127.0.0.1"
            default: host
            }
        }
        let (mine, theirs) = (normal(host), normal(other.host))
        return port == other.port && (mine == theirs || mine == "*" || theirs == "*")
    }
}

public struct HealthSpec: Sendable, Hashable, Codable {
    public var http: HTTPCheck
    public var interval: TimeSpan
    public var timeout: TimeSpan
    /// Consecutive passing checks before an instance counts as healthy (HAProxy `rise`).
    public var healthyThreshold: Int
    /// Consecutive failing checks before it counts as down (HAProxy `fall`).
    public var unhealthyThreshold: Int
    /// How long a new instance may take to become healthy before the deployment fails.
    public var startTimeout: TimeSpan
}

/// An HTTP request and the status it must answer with.
public struct HTTPCheck: Sendable, Hashable, Codable {
    public var path: String
    public var expect: Int
    /// Smoke checks only: a text the body must contain.
    public var contains: String? = nil

    public init(path: String, expect: Int, contains: String? = nil) {
        self.path = path
        self.expect = expect
        self.contains = contains
    }
}

/// How the new version replaces the old one.
public enum Strategy: Sendable, Hashable, Codable {
    case rolling(RollingSpec)
    case canary(CanarySpec)
    case blueGreen(BlueGreenSpec)

    public var name: StrategyName {
        switch self {
        case .rolling: .rolling
        case .canary: .canary
        case .blueGreen: .blueGreen
        }
    }
}

public struct RollingSpec: Sendable, Hashable, Codable {
    public var batchSize: Int
    /// How long each new batch is analysed beside the old instances before they are retired;
    /// nil: no analysis, the batch only has to pass its health checks.
    public var analysis: TimeSpan?
    public var analysisInterval: TimeSpan

    public init(batchSize: Int, analysis: TimeSpan? = nil, analysisInterval: TimeSpan = .seconds(10)) {
        self.batchSize = batchSize
        self.analysis = analysis
        self.analysisInterval = analysisInterval
    }
}

public struct CanarySpec: Sendable, Hashable, Codable {
    /// Traffic percentages, increasing, ending at 100.
    public var steps: [Int]
    public var stepDuration: TimeSpan
    public var analysisInterval: TimeSpan
}

public struct BlueGreenSpec: Sendable, Hashable, Codable {
    /// A second address where the new set answers before the switch.
    public var preview: ListenAddress?
    /// How long the previous set stays running at 0% after the switch.
    public var keepPrevious: TimeSpan
    /// false: the switch waits for `slipway approve ENV`.
    public var autoPromote: Bool
    /// How long to wait for that approval before giving up (nothing switched).
    public var approvalTimeout: TimeSpan

    public init(preview: ListenAddress?, keepPrevious: TimeSpan, autoPromote: Bool, approvalTimeout: TimeSpan) {
        self.preview = preview
        self.keepPrevious = keepPrevious
        self.autoPromote = autoPromote
        self.approvalTimeout = approvalTimeout
    }
}

/// Quality gates of the pipeline (run from the pipeline engine; parsed and checked here).
public struct Gates: Sendable, Hashable, Codable {
    public var preflight: [CommandGate]
    public var smoke: [SmokeCheck]
    public var integration: [CommandGate]
    public var monitor: TimeSpan?
    /// Post-deploy: how long to watch the new version against the pre-deploy baseline.
    public var observe: TimeSpan?
    /// Items a person must approve (`slipway approve ENV`) before anything is deployed.
    public var checklist: [String] = []
    /// How long pre-flight waits for that approval.
    public var approvalTimeout: TimeSpan = .seconds(3600)
    /// Post-deploy: paths that must answer (any status below 500) through the front.
    public var endpoints: [String] = []
    /// Post-deploy: monitoring is active — a path every instance answers (`/metrics`) and/or
    /// a URL that must answer 200 (a Prometheus server's `/-/ready`).
    public var monitoring: Monitoring?
}

/// A check that must pass: a command (exit status 0) or, for pre-flight, a git note on the
/// commit being deployed (what CI systems write with `git notes`).
public struct CommandGate: Sendable, Hashable, Codable {
    public var name: String
    /// argv; empty for a note gate.
    public var command: [String]
    public var note: NoteCheck?
    public var timeout: TimeSpan
    /// The command's last line of output names a backup, passed to `rollback.restore`.
    public var backup: Bool
}

public struct Monitoring: Sendable, Hashable, Codable {
    public var path: String?
    public var url: String?
}

/// Passes when the note on the trigger commit under `ref` contains `contains`.
public struct NoteCheck: Sendable, Hashable, Codable {
    public var ref: String
    public var contains: String
}

public struct SmokeCheck: Sendable, Hashable, Codable {
    public var name: String
    public var http: HTTPCheck

    public init(name: String, http: HTTPCheck) {
        self.name = name
        self.http = http
    }
}

extension Manifest {
    /// Every command the manifest runs, named by its field: `run.command`, the pre-flight and
    /// integration gates, the hooks, `rollback.restore`.
    public var commands: [(field: String, arguments: [String])] {
        let optional: [(String, [String]?)] = [
            ("hooks.preDeploy", hooks.preDeploy), ("hooks.postDeploy", hooks.postDeploy), ("hooks.onRollback", hooks.onRollback),
            ("rollback.restore", rollback.restore),
        ] + notify.map { channel -> (String, [String]?) in
            if case .command(let command) = channel.kind { return ("notify \(channel.name)", command) }
            return ("notify \(channel.name)", nil)
        }
        return [("run.command", run.command)]
            + gates.preflight.filter { !$0.command.isEmpty }.map { ("gates.preflight \($0.name)", $0.command) }
            + gates.integration.filter { !$0.command.isEmpty }.map { ("gates.integration \($0.name)", $0.command) }
            + optional.compactMap { field, arguments in arguments.map { (field, $0) } }
    }
}
