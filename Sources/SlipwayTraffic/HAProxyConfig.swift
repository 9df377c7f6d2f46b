/// Builds the configuration file of one environment's HAProxy. Pure: returns text.
public enum HAProxyConfig {
    public static let backend = "app"
    public static let previewBackend = "preview"

    /// The whole configuration. `servers` are written as static servers so that a freshly
    /// (re)started HAProxy serves what is running; later changes go through the runtime API.
    public static func render(_ settings: FrontSettings, servers: [BackendServer: Int], socket: String, pidFile: String) -> String {
        var lines = [
            "# Written by Slipway; changes go through the runtime API. Do not edit.",
            "global",
            // Its listeners are handed to the next HAProxy on a reload (`-x`), so none binds with
            // SO_REUSEPORT: a second HAProxy on the same address, from any state directory, fails
            // to start instead of taking half of the traffic.
            "    stats socket \(socket) mode 600 level admin expose-fd listeners",
            "    stats timeout 30s",
            "    noreuseport",
            "    pidfile \(pidFile)",
            "    hard-stop-after 60s",
            "",
            "defaults",
            "    mode http",
            "    option redispatch 1",
            "    retries 3",
            "    retry-on conn-failure empty-response junk-response",
            "    timeout connect 2s",
            "    timeout client 60s",
            "    timeout server 60s",
            "    timeout http-keep-alive 5s",
            "    timeout check \(settings.timeoutMilliseconds)ms",
            "",
            "frontend front",
            "    bind \(settings.listen)",
            "    default_backend \(backend)",
            "",
            "backend \(backend)",
            "    balance roundrobin",
            "    option httpchk GET \(settings.healthPath)",
            "    http-check expect status \(settings.expectStatus)",
        ]
        for (server, weight) in servers.sorted(by: { $0.key.name < $1.key.name }) {
            lines.append("    server \(server.name) \(server.host):\(server.port) \(checkArguments(settings)) weight \(weight)")
        }
        if let preview = settings.preview {
            lines += [
                "",
                "frontend preview",
                "    bind \(preview)",
                "    default_backend \(previewBackend)",
                "",
                "backend \(previewBackend)",
                "    balance roundrobin",
                "    option httpchk GET \(settings.healthPath)",
                "    http-check expect status \(settings.expectStatus)",
            ]
        }
        if let stats = settings.stats { lines += statsFrontend(stats) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// HAProxy's own Prometheus exporter (built in since 2.4: the front's and every server's
    /// counters) on `address`, and the stats page beside it for people.
    static func statsFrontend(_ address: String) -> [String] {
        [
            "",
            "frontend stats",
            "    bind \(address)",
            "    http-request use-service prometheus-exporter if { path /metrics }",
            "    stats enable",
            "    stats uri /stats",
            "    stats refresh 5s",
        ]
    }

    /// `check inter … rise … fall …`, shared by static servers and runtime `add server`.
    public static func checkArguments(_ settings: FrontSettings) -> String {
        "check inter \(settings.intervalMilliseconds)ms rise \(settings.rise) fall \(settings.fall)"
    }
}

/// Runtime API lines (HAProxy management guide, "Unix Socket commands"). Pure: returns text.
public enum RuntimeCommand {
    static func server(_ name: String, in backend: String = HAProxyConfig.backend) -> String { "\(backend)/\(name)" }

    /// A new server at weight 0 whose health starts *down*: HAProxy would otherwise count it
    /// as up before a single check passed, so only `rise` passing checks bring it up. The
    /// order matters: leaving maintenance resets health to up, so `health down` comes after.
    /// (Between `enable server` and `health down` the server is briefly up: weight 0 keeps
    /// requests away from it then.)
    public static func add(_ server: BackendServer, settings: FrontSettings, backend: String = HAProxyConfig.backend) -> [String] {
        let name = self.server(server.name, in: backend)
        return [
            "add server \(name) \(server.host):\(server.port) \(HAProxyConfig.checkArguments(settings)) weight 0",
            "enable server \(name)",
            "set server \(name) health down",
            "enable health \(name)",
        ]
    }

    public static func setWeight(_ name: String, _ weight: Int, in backend: String = HAProxyConfig.backend) -> String {
        "set weight \(server(name, in: backend)) \(weight)"
    }
    public static func drain(_ name: String) -> String { "set server \(server(name)) state drain" }
    public static func delete(_ name: String, in backend: String = HAProxyConfig.backend) -> String { "del server \(server(name, in: backend))" }
    public static func maintenance(_ name: String, in backend: String = HAProxyConfig.backend) -> String { "set server \(server(name, in: backend)) state maint" }
    public static let showStat = "show stat -1 4 -1"

    /// Phrases with which HAProxy's CLI reports a refused command.
    static let failures = ["No such", "Invalid", "Require", "not found", "Unknown", "cannot", "Can't", "denied", "error", "failed", "already exists"]

    /// Whether a command's output reports failure (successful commands print nothing or a
    /// confirmation such as "New server registered.").
    public static func isFailure(_ output: String) -> Bool {
        let lowered = output.lowercased()
        return failures.contains { lowered.contains($0.lowercased()) }
    }
}

/// Parses `show stat` CSV output (typed `-1 4 -1`: servers only) into `ServerStats`.
public enum StatParser {
    public static func parse(_ csv: String, backend: String = HAProxyConfig.backend) -> [ServerStats] {
        let lines = csv.split(separator: "\n")
        guard let header = lines.first(where: { $0.hasPrefix("# ") }) else { return [] }
        let columns = header.dropFirst(2).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let index = Dictionary(columns.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        return lines.filter { !$0.hasPrefix("#") }.compactMap { line in
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            func field(_ name: String) -> String { index[name].flatMap { $0 < fields.count ? fields[$0] : nil } ?? "" }
            func number(_ name: String) -> Int { Int(field(name)) ?? 0 }
            guard field("pxname") == backend, !["BACKEND", "FRONTEND"].contains(field("svname")) else { return nil }
            return ServerStats(
                name: field("svname"), health: health(field("status")), weight: number("weight"),
                currentSessions: number("scur"),
                responses: ["hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other"].map(number).reduce(0, +),
                serverErrors: number("hrsp_5xx"), responseTimeMilliseconds: number("rtime"),
                // HAProxy writes "* " before the status while the next check is running.
                checkStatus: field("check_status").replacingOccurrences(of: "* ", with: ""),
                checkCode: Int(field("check_code"))
            )
        }
    }

    static func health(_ status: String) -> ServerStats.Health {
        switch status {
        case "UP": .up
        case "DRAIN": .draining
        case "no check": .unchecked
        case let text where text.hasPrefix("MAINT"): .maintenance
        case let text where text.hasPrefix("DOWN") && text.contains("/"): .starting  // "DOWN 1/2": going up
        case let text where text.hasPrefix("UP") && text.contains("/"): .up         // "UP 1/2": going down
        default: .down
        }
    }
}
