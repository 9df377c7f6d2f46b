public import Foundation
public import Logging
import SlipwayHost

/// One environment's HAProxy: its config, pid file, runtime socket and log live in `directory`
/// (inside Slipway's state directory). It runs detached, so Slipway is never in the data path.
public actor HAProxy: TrafficProvider {
    public nonisolated let directory: URL
    private let logger: Logger
    private var settings: FrontSettings?

    public init(directory: URL, logger: Logger) {
        self.directory = directory
        self.logger = logger
    }

    nonisolated var configFile: URL { directory.appendingPathComponent("haproxy.cfg") }
    nonisolated var pidFile: URL { directory.appendingPathComponent("haproxy.pid") }
    nonisolated var socketPath: String { directory.appendingPathComponent("admin.sock").path }
    nonisolated var settingsFile: URL { directory.appendingPathComponent("front.json") }
    nonisolated var client: RuntimeAPIClient { RuntimeAPIClient(socketPath: socketPath) }

    public nonisolated var isRunning: Bool { runningPID != nil }

    public nonisolated var processID: Int32? {
        (try? String(contentsOf: pidFile, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// The running HAProxy's master pid, nil when none is running.
    public nonisolated var runningPID: Int32? {
        guard let pid = processID, ProcessControl.startTime(of: pid) != nil,
              (try? client.send(["show info"]))?.contains("Name: HAProxy") == true else { return nil }
        return pid
    }

    public func ensureRunning(_ settings: FrontSettings, servers: [BackendServer: Int]) async throws {
        self.settings = settings
        let running = runningPID
        let current = (try? Data(contentsOf: settingsFile)).flatMap { try? JSONDecoder().decode(FrontSettings.self, from: $0) }
        if running != nil && current == settings { return }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let text = HAProxyConfig.render(settings, servers: servers, socket: socketPath, pidFile: pidFile.path)
        try Data(text.utf8).write(to: configFile, options: .atomic)
        if running != nil, let current, Self.rebindsPort(from: current, to: settings) {
            // A listener handed over on a reload keeps its address; a new address on the same port
            // (`*:8080` → `127.0.0.1:8080`) can only be bound once the old one lets go of it.
            logger.warning("haproxy restarts to bind a new address on the same port: connections are refused for a moment", metadata: ["listen": "\(settings.listen)"])
            await stop()
            try await start(replacing: nil)
        } else {
            try await start(replacing: running)
        }
        try JSONEncoder().encode(settings).write(to: settingsFile, options: .atomic)
    }

    /// Starts HAProxy as a daemon; with `replacing`, a seamless reload (`-sf`): the new process
    /// takes the old one's listeners over its runtime socket (`-x`) and the old one finishes
    /// its open connections.
    private func start(replacing old: Int32?) async throws {
        guard let binary = ExecutableResolver.standard(extra: [URL(fileURLWithPath: "/usr/sbin"), URL(fileURLWithPath: "/usr/local/sbin")])
            .resolve("haproxy", in: directory) else {
            throw TrafficError("haproxy is not installed (apt-get install haproxy)")
        }
        var arguments = ["haproxy", "-D", "-f", configFile.path]  // the pid file is named in the config
        if let old { arguments += ["-x", socketPath, "-sf", String(old)] }
        let log = directory.appendingPathComponent("haproxy.log")
        let spec = LaunchSpec(arguments: arguments, environment: ["PATH": "/usr/sbin:/usr/bin:/bin"], workingDirectory: directory, logFile: log)
        // The foreground process exits once the daemon is up (or has failed to start).
        guard let status = try await Commands.run(spec, executable: binary, timeout: .seconds(30)) else {
            throw TrafficError("haproxy did not start within 30 s")
        }
        guard status == 0 else { throw TrafficError(Self.startFailure(status: status, log: log, settings: settings)) }
        let deadline = ContinuousClock.now + .seconds(10)
        while runningPID == nil || (old != nil && runningPID == old) {
            guard ContinuousClock.now < deadline else { throw TrafficError("haproxy started but its runtime socket does not answer") }
            try await Task.sleep(for: .milliseconds(20))
        }
        logger.info("haproxy started", metadata: ["listen": "\(settings?.listen ?? "")", "reload": "\(old != nil)"])
    }

    /// Whether `new` binds a different address on a port `old` binds.
    static func rebindsPort(from old: FrontSettings, to new: FrontSettings) -> Bool {
        let before = [old.listen] + (old.preview.map { [$0] } ?? []), after = [new.listen] + (new.preview.map { [$0] } ?? [])
        func port(_ address: String) -> Substring? { address.split(separator: ":").last }
        return after.contains { address in !before.contains(address) && before.contains { port($0) == port(address) } }
    }

    /// Why HAProxy did not start, in one line: its alerts, and who holds an address it could not bind.
    static func startFailure(status: Int32, log: URL, settings: FrontSettings?) -> String {
        let alerts = LogTail.lastLines(of: log, count: 12).compactMap { line -> String? in
            // `[ALERT]    (1234) : message`: the message only.
            guard let alert = line.range(of: "[ALERT]"), let colon = line[alert.upperBound...].range(of: " : ") else { return nil }
            let message = line[colon.upperBound...]
            return message.isEmpty ? nil : String(message)
        }
        var reason = "haproxy did not start (exit \(status))"
        if !alerts.isEmpty { reason += ": " + alerts.joined(separator: "; ") }
        if alerts.contains(where: { $0.contains("Address already in use") }), let settings {
            for address in [settings.listen] + (settings.preview.map { [$0] } ?? []) {
                guard let port = address.split(separator: ":").last.flatMap({ Int($0) }), let holder = PortHolder.describe(port: port) else { continue }
                reason += "; \(address) is held by \(holder)"
            }
        }
        return reason
    }

    public func add(_ server: BackendServer) async throws {
        guard let settings else { throw TrafficError("ensureRunning must come first") }
        for command in RuntimeCommand.add(server, settings: settings) {
            try client.run([command])
        }
    }

    public func setWeights(_ weights: [String: Int]) async throws {
        guard !weights.isEmpty else { return }
        try client.run(weights.sorted { $0.key < $1.key }.map { RuntimeCommand.setWeight($0.key, $0.value) })
    }

    public func drain(_ name: String) async throws {
        try client.run([RuntimeCommand.drain(name)])
    }

    public func preview(_ servers: [BackendServer]) async throws {
        guard let settings, settings.preview != nil else { throw TrafficError("no preview address is configured") }
        let answer = try client.send([RuntimeCommand.showStat])
        let current = Set(StatParser.parse(answer, backend: HAProxyConfig.previewBackend).map(\.name))
        for name in current.subtracting(servers.map(\.name)) {
            try await remove(name, from: HAProxyConfig.previewBackend)
        }
        let adding = servers.filter { !current.contains($0.name) }
        for server in adding {
            for command in RuntimeCommand.add(server, settings: settings, backend: HAProxyConfig.previewBackend) {
                try client.run([command])
            }
        }
        // Weight only once the checks pass, so the preview never answers from a server not yet checked.
        let deadline = ContinuousClock.now + .seconds(60)
        var pending = Set(adding.map(\.name))
        while !pending.isEmpty {
            let up = StatParser.parse(try client.send([RuntimeCommand.showStat]), backend: HAProxyConfig.previewBackend)
                .filter { $0.health == .up }.map(\.name)
            for name in pending.intersection(up) {
                try client.run([RuntimeCommand.setWeight(name, 100, in: HAProxyConfig.previewBackend)])
                pending.remove(name)
            }
            guard ContinuousClock.now < deadline else { throw TrafficError("preview servers never passed their checks: \(pending.sorted())") }
            if !pending.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        }
    }

    public func remove(_ name: String) async throws {
        try await remove(name, from: HAProxyConfig.backend)
    }

    private func remove(_ name: String, from backend: String) async throws {
        try client.run([RuntimeCommand.maintenance(name, in: backend)])
        // `del server` is refused while connections are still attached; they close quickly
        // once the server is in maintenance.
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            let answer = try client.send([RuntimeCommand.delete(name, in: backend)])
            if !RuntimeCommand.isFailure(answer) || answer.contains("No such server") { return }
            guard ContinuousClock.now < deadline else {
                throw TrafficError("HAProxy kept server \(name): \(answer.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    public func stats() async throws -> [ServerStats] {
        StatParser.parse(try client.send([RuntimeCommand.showStat]))
    }

    /// Stops HAProxy (SIGTERM to its pid): used when an environment is taken down.
    public func stop() async {
        guard let pid = runningPID, let start = ProcessControl.startTime(of: pid) else { return }
        await ProcessControl.stop(ProcessIdentity(pid: pid, startTime: start), timeout: .seconds(5))
        try? FileManager.default.removeItem(at: settingsFile)
    }
}
