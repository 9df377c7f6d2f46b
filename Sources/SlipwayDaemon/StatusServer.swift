public import Foundation
public import Logging
public import ServiceLifecycle
public import SlipwayEngine
import SlipwayCore
import SlipwayHost
import Hummingbird
import HummingbirdCore
import HTTPTypes
public import Prometheus
import NIOCore
import Synchronization

/// The daemon's HTTP side (README, "Status page and metrics"), read-only: the status page
/// (`/`), its JSON API (`/api/environments`, `/api/environments/ENV/deployments`,
/// `/api/environments/ENV/records`) and Prometheus metrics (`/metrics`). It listens on
/// 127.0.0.1 unless told otherwise. An address it cannot bind is logged: the daemon goes on
/// deploying without it. At most 32 connections at once, idle ones closed after 30 s, request
/// heads bounded, and what it reads of the repository cached for a second: no client can
/// starve the daemon of descriptors or of its repository. On a loopback address it answers
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
        let logger = self.logger, bound = self.bound
        let http = HTTP1Channel.Configuration(
            idleTimeout: .seconds(30), httpDecoderConfiguration: .init(maxHeaderFieldSize: 8192, maxHeaderListSize: 16384, maxHeaderFieldCount: 100))
        let app = Application(
            router: router(), server: .http1(configuration: http),
            configuration: .init(address: .hostname(host, port: port), serverName: "slipway",
                                 availableConnectionsDelegate: MaximumAvailableConnections(Self.maximumConnections)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                bound.set(port)
                let address = "\(channel.localAddress?.ipAddress ?? "127.0.0.1"):\(port)"
                try? Data((address + "\n").utf8).write(to: file, options: .atomic)
                logger.notice("status page and metrics", metadata: ["url": "http://\(address)/"])
            },
            logger: logger)
        do {
            try await app.run()
        } catch {
            logger.error("the status page and metrics are off: the address cannot be served", metadata: ["listen": "\(host):\(port)", "error": "\(error)"])
            // A service that returns would end the daemon's service group: this one waits for the
            // daemon's own shutdown, so deployments go on without the page.
            try? await gracefulShutdown()
        }
        try? FileManager.default.removeItem(at: file)
    }

    static let maximumConnections = 32
    /// The port bound, once bound (for the Host check).
    private let bound = BoundPort()

    private func router() -> Router<BasicRequestContext> {
        let router = Router()
        let inFlight = self.inFlight, registry = self.registry, engine = self.engine
        let gauges = InstanceGauges(registry: registry)
        let overview = CachedOverview(engine: engine)
        if ["127.0.0.1", "localhost"].contains(host) || host.hasPrefix("127.") { router.add(middleware: LoopbackHost(port: bound)) }
        router.get("/") { _, _ in Self.response(StatusPage.html, type: "text/html; charset=utf-8") }
        router.get("/status.js") { _, _ in Self.response(StatusPage.script, type: "text/javascript; charset=utf-8") }
        router.get("/metrics") { _, _ -> Response in
            gauges.update(from: (try? await overview.get()) ?? [])
            return Self.response(String(decoding: registry.emitToBuffer(), as: UTF8.self), type: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.get("/api/environments") { _, _ -> Response in
            let views = try await overview.get()
            let runs = Dictionary(inFlight.current.map { ($0.environment.rawValue, $0) }) { first, _ in first }
            return try Self.json(views.map { EnvironmentState(view: $0, run: runs[$0.environment]) })
        }
        router.get("/api/environments/:env/deployments") { _, context -> Response in
            guard let name = context.parameters.get("env").flatMap(EnvironmentName.init(text:)) else { return Self.response("no such environment\n", status: .notFound) }
            return try Self.json(try await engine.repository.history(of: name, limit: 100))
        }
        router.get("/api/environments/:env/records") { _, context -> Response in
            guard let name = context.parameters.get("env").flatMap(EnvironmentName.init(text:)) else { return Self.response("no such environment\n", status: .notFound) }
            return try Self.json(await engine.latestRecords(of: name, count: 3).map { ["path": $0.path, "text": $0.text] })
        }
        return router
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

    static func response(_ text: String, type: String = "text/plain; charset=utf-8", status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = "no-store"
        // The page runs only its own script, and nothing it shows is read as markup.
        for (name, value) in [("X-Content-Type-Options", "nosniff"), ("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'")] {
            if let name = HTTPField.Name(name) { headers[name] = value }
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return response(String(decoding: try encoder.encode(value), as: UTF8.self), type: "application/json")
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

/// Answers only requests whose Host names the loopback address it listens on: a page on
/// another site that rebinds its name to 127.0.0.1 gets 421, never the API.
struct LoopbackHost: RouterMiddleware {
    typealias Context = BasicRequestContext
    let port: BoundPort

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let port = self.port.value
        let host = request.head.authority ?? ""
        guard ["127.0.0.1:\(port)", "localhost:\(port)"].contains(host.lowercased()) else {
            return StatusServer.response("this address answers requests for 127.0.0.1:\(port) only\n", status: .misdirectedRequest)
        }
        return try await next(request, context)
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
                let gauge = known[key] ?? registry.makeGauge(name: "slipway_instances", labels: [("env", labels[0]), ("version", labels[1]), ("state", labels[2])])
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
