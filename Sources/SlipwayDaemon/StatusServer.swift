public import Foundation
public import Logging
public import ServiceLifecycle
public import SlipwayEngine
import SlipwayCore
import SlipwayHost
public import Prometheus
import NIOCore
import Synchronization

/// The daemon's HTTP side (README, "The daemon", status page and metrics), read-only: the status page
/// (`/`), its JSON API (`/api/environments`, `/api/environments/ENV/deployments`,
/// `/api/environments/ENV/records`) and Prometheus metrics (`/metrics`). It listens on
/// 127.0.0.1 unless told otherwise. An address it cannot bind is logged: the daemon goes on
/// deploying without it. `HTTPServer` bounds connections (32), idleness and request heads, and
/// what it reads of the repository is cached for a second: no client can starve the daemon of
/// descriptors or of its repository. On a loopback address it answers
/// only requests that name it (`127.0.0.1:PORT`, `localhost:PORT`), so a web page cannot read
/// it through a rebound DNS name.
public struct StatusServer: Service {
    let host: String
    let port: Int
    let engine: Engine
    let inFlight: InFlight
    let registry: PrometheusCollectorRegistry
    let logger: Logger

    public init(host: String, port: Int, engine: Engine, inFlight: InFlight, registry: PrometheusCollectorRegistry, logger: Logger) {
        self.host = host
        self.port = port
        self.engine = engine
        self.inFlight = inFlight
        self.registry = registry
        self.logger = logger
    }

    /// Where the address it listens on is written once bound (`--http 127.0.0.1:0` picks a port).
    public static func addressFile(_ state: StateDirectory) -> URL { state.root.appendingPathComponent("http.address") }

    public func run() async throws {
        let file = Self.addressFile(engine.configuration.state)
        let channel: any Channel
        do {
            let routes = Routes(engine: engine, inFlight: inFlight, registry: registry, loopback: host == "localhost" || host.hasPrefix("127."))
            channel = try await HTTPServer().start(host: host, port: port) { await routes.answer($0) }
            routes.bound.set(channel.localAddress?.port ?? 0)
        } catch {
            logger.error("the status page and metrics are off: the address cannot be served", metadata: ["listen": "\(host):\(port)", "error": "\(error)"])
            // A service that returns would end the daemon's service group: this one waits for the
            // daemon's own shutdown, so deployments go on without the page.
            try? await gracefulShutdown()
            return
        }
        let address = "\(channel.localAddress?.ipAddress ?? host):\(channel.localAddress?.port ?? port)"
        do {
            try Data((address + "\n").utf8).write(to: file, options: .atomic)
        } catch {
            logger.warning("the status page's address not written", metadata: ["file": "\(file.path)", "error": "\(ErrorText.sentence(error))"])
        }
        logger.notice("status page and metrics", metadata: ["url": "http://\(address)/"])
        try? await gracefulShutdown()
        try? await channel.close()
        try? FileManager.default.removeItem(at: file)
    }
}

/// What each path answers.
struct Routes: Sendable {
    let engine: Engine
    let inFlight: InFlight
    let registry: PrometheusCollectorRegistry
    /// Served on a loopback address: requests must name it (see `answer`).
    let loopback: Bool
    /// The port bound, once bound (for the Host check).
    let bound = BoundPort()
    let overview: CachedOverview
    let gauges: InstanceGauges

    init(engine: Engine, inFlight: InFlight, registry: PrometheusCollectorRegistry, loopback: Bool) {
        self.engine = engine
        self.inFlight = inFlight
        self.registry = registry
        self.loopback = loopback
        overview = CachedOverview(engine: engine)
        gauges = InstanceGauges(registry: registry)
    }

    func answer(_ request: HTTPServer.Request) async -> HTTPServer.Answer {
        // A page on another site that rebinds its name to 127.0.0.1 names itself in Host: 421, never the API.
        if loopback, !["127.0.0.1:\(bound.value)", "localhost:\(bound.value)"].contains(request.host.lowercased()) {
            return HTTPServer.Answer(status: .misdirectedRequest, body: "this address answers requests for 127.0.0.1:\(bound.value) only\n")
        }
        do {
            return try await route(request.path)
        } catch {
            return HTTPServer.Answer(status: .internalServerError, body: "\(ErrorText.sentence(error))\n")
        }
    }

    private func route(_ path: String) async throws -> HTTPServer.Answer {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch path {
        case "/": return HTTPServer.Answer(contentType: "text/html; charset=utf-8", body: StatusPage.html)
        case "/status.js": return HTTPServer.Answer(contentType: "text/javascript; charset=utf-8", body: StatusPage.script)
        case "/metrics":
            gauges.update(from: (try? await overview.get()) ?? [])
            return HTTPServer.Answer(contentType: "text/plain; version=0.0.4; charset=utf-8", body: String(decoding: registry.emitToBuffer(), as: UTF8.self))
        case "/api/environments":
            let runs = Dictionary(inFlight.current.map { ($0.environment.rawValue, $0) }) { first, _ in first }
            return try Self.json(try await overview.get().map { EnvironmentState(view: $0, run: runs[$0.environment]) })
        default:
            // /api/environments/ENV/deployments, /api/environments/ENV/records
            guard parts.count == 5, parts[1] == "api", parts[2] == "environments", let name = EnvironmentName(text: parts[3]) else {
                return HTTPServer.Answer(status: .notFound, body: "not found\n")
            }
            switch parts[4] {
            case "deployments": return try Self.json(try await engine.repository.history(of: name, limit: 100))
            case "records": return try Self.json(await engine.latestRecords(of: name, count: 3).map { ["path": $0.path, "text": $0.text] })
            default: return HTTPServer.Answer(status: .notFound, body: "not found\n")
            }
        }
    }

    static func json(_ value: some Encodable) throws -> HTTPServer.Answer {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return HTTPServer.Answer(contentType: "application/json", body: String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// An environment with the daemon's run in flight and the approval it waits for, if any.
    struct EnvironmentState: Encodable {
        let view: EnvironmentView
        let run: InFlight.Entry?

        func encode(to encoder: any Encoder) throws {
            try view.encode(to: encoder)
            var container = encoder.container(keyedBy: Keys.self)
            try container.encodeIfPresent(run.map { Run(phase: $0.phase, step: $0.step, percent: $0.percent, since: $0.since) }, forKey: .run)
            if let run, run.step.hasPrefix(EnvironmentView.waitingForApproval) {
                // The checklist is pre-flight's wait; a blue-green switch waits in production with none.
                let checklist = run.phase == Phase.preflight.rawValue ? view.checklist : []
                try container.encode(Approval(command: "slipway approve \(view.environment)", checklist: checklist), forKey: .approval)
            }
        }

        enum Keys: String, CodingKey { case run, approval }
        struct Run: Encodable {
            let phase: String
            let step: String
            let percent: Int
            let since: Date
        }
        struct Approval: Encodable {
            let command: String
            let checklist: [String]
        }
    }
}

/// `Engine.overview()` computed at most once a second, however many clients ask.
final class CachedOverview: Sendable {
    private let engine: Engine
    private let last = Mutex<(at: ContinuousClock.Instant, views: [EnvironmentView])?>(nil)

    init(engine: Engine) { self.engine = engine }

    func get() async throws -> [EnvironmentView] {
        if let cached = last.withLock({ $0 }), ContinuousClock.now - cached.at < .seconds(1) { return cached.views }
        let views = try await engine.overview()
        last.withLock { $0 = (.now, views) }
        return views
    }
}

/// The port the server bound (0 until then).
final class BoundPort: Sendable {
    private let port = Mutex(0)
    func set(_ value: Int) { port.withLock { $0 = value } }
    var value: Int { port.withLock { $0 } }
}

/// `slipway_instances{env,version,state}`, set from what runs at each scrape; a set that no
/// longer exists is removed rather than left at its last value.
final class InstanceGauges: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let known = Mutex<[String: Gauge]>([:])

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    static var descriptor: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "slipway", metricName: "instances", unitName: "",
                                                 helpText: "Instances of each environment on this machine, by version and state (serving, warm, stopped).")
    }

    func update(from views: [EnvironmentView]) {
        var counts: [[String]: Int] = [:]
        for view in views {
            for instance in view.instances { counts[[view.environment, instance.version, instance.state], default: 0] += 1 }
        }
        known.withLock { known in
            var seen: Set<String> = []
            for (labels, count) in counts {
                let key = labels.joined(separator: "\u{1}")
                seen.insert(key)
                let gauge = known[key] ?? registry.makeGauge(descriptor: Self.descriptor, labels: [("env", labels[0]), ("version", labels[1]), ("state", labels[2])])
                gauge.set(Double(count))
                known[key] = gauge
            }
            for (key, gauge) in known where !seen.contains(key) {
                registry.unregisterGauge(gauge)
                known[key] = nil
            }
        }
    }
}
