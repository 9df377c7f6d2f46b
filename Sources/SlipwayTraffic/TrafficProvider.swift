public import Foundation
public import Logging

/// One instance as the load balancer sees it.
public struct BackendServer: Sendable, Hashable, Codable {
    /// A name unique within the environment (letters, digits, `-`, `_`, `.`).
    public let name: String
    public let host: String
    public let port: Int

    public init(name: String, host: String = "127.0.0.1", port: Int) {
        self.name = name
        self.host = host
        self.port = port
    }
}

/// How the front of one environment is set up: where it listens and how it checks instances.
public struct FrontSettings: Sendable, Hashable, Codable {
    public var listen: String
    public var healthPath: String
    public var expectStatus: Int
    public var intervalMilliseconds: Int
    public var timeoutMilliseconds: Int
    public var rise: Int
    public var fall: Int
    /// A second address that serves only the set being previewed (blue-green), if any.
    public var preview: String?
    /// Where HAProxy serves its Prometheus exporter and stats page, if anywhere.
    public var stats: String? = nil

    public init(listen: String, healthPath: String, expectStatus: Int, intervalMilliseconds: Int,
                timeoutMilliseconds: Int, rise: Int, fall: Int, preview: String? = nil) {
        self.listen = listen
        self.healthPath = healthPath
        self.expectStatus = expectStatus
        self.intervalMilliseconds = intervalMilliseconds
        self.timeoutMilliseconds = timeoutMilliseconds
        self.rise = rise
        self.fall = fall
        self.preview = preview
    }
}

/// What the load balancer knows about one server right now.
public struct ServerStats: Sendable, Hashable {
    public enum Health: String, Sendable {
        case up, down, starting, maintenance, draining, unchecked
    }
    public let name: String
    public let health: Health
    public let weight: Int
    /// Sessions open now.
    public let currentSessions: Int
    /// Total requests with a response, and those with a 5xx status.
    public let responses: Int
    public let serverErrors: Int
    /// Average response time over the last 1024 requests, in milliseconds.
    public let responseTimeMilliseconds: Int
    /// Last health check result as the balancer words it (`L7OK`, `L4CON`, …).
    public let checkStatus: String
    /// The HTTP status the last check got, if it got one.
    public var checkCode: Int? = nil

    /// The last health check in plain words: `passed`, `HTTP 503`, `connection refused`.
    public var lastCheck: String {
        switch checkStatus {
        case "L7OK", "L7OKC", "L6OK", "L4OK": "passed"
        case "L7STS": checkCode.map { "HTTP \($0)" } ?? "an unexpected HTTP status"
        case "L4CON": "connection refused (nothing listens on its port yet)"
        case "L4TOUT": "no connection within the check timeout"
        case "L7TOUT": "no HTTP answer within the check timeout"
        case "L7RSP": "an answer that is not HTTP"
        case "L6RSP", "L6TOUT": "a TLS failure"
        case "SOCKERR": "a socket error"
        case "", "INI", "UNK": "no check yet"
        default: checkStatus
        }
    }
}

/// Routes an environment's traffic to its instances. HAProxy is the implementation today;
/// another balancer slots in beside it by implementing this.
public protocol TrafficProvider: Sendable {
    /// Makes sure the front is running with `settings`, serving `servers` when it has to be
    /// (re)started, without dropping connections that are already open.
    func ensureRunning(_ settings: FrontSettings, servers: [BackendServer: Int]) async throws
    /// Adds a server at weight 0 with health checks on; it takes no traffic yet.
    func add(_ server: BackendServer) async throws
    /// Sets the weights of the named servers in one exchange.
    func setWeights(_ weights: [String: Int]) async throws
    /// Stops new requests to a server; open ones finish.
    func drain(_ name: String) async throws
    /// Takes a server out of the balancer entirely.
    func remove(_ name: String) async throws
    /// Current state of every server.
    func stats() async throws -> [ServerStats]
    /// Serves exactly `servers` on the preview address (an empty list clears it).
    func preview(_ servers: [BackendServer]) async throws
    /// Whether the front is running now.
    var isRunning: Bool { get }
    /// The process that serves the front, as last started (its exit is watched); nil when none.
    var processID: Int32? { get }
    /// Stops the front (the environment is taken down).
    func stop() async
}

/// The traffic provider of one environment whose files live in `directory` (inside Slipway's
/// state directory): the one place that decides which balancer an environment gets.
public func trafficProvider(directory: URL, logger: Logger) -> any TrafficProvider {
    HAProxy(directory: directory, logger: logger)
}
