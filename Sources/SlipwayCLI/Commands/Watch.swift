import ArgumentParser
import Foundation
import Logging
import SlipwayDaemon
import SlipwayEngine
import SlipwayManifest
import Prometheus

extension Slipway {
    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "watch",
            abstract: "The daemon: watch the branch and reconcile on every change (SIGTERM finishes the run in progress).")

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: "Polling interval, the fallback when no inotify event or hook notification comes (500ms, 5s, …).")
        var poll: String = "1s"

        @Flag(name: .long, help: "Do not use inotify: detect changes by polling (and notifications) only.")
        var noInotify = false

        @Option(name: .long, help: ArgumentHelp(
            "Watch a remote ops repo (a path, file://, ssh:// or https:// URL): Slipway keeps a bare clone at --repo, fetches every --poll and on notify, and pushes its records back fast-forward only.",
            valueName: "url"))
        var remote: String?

        @Option(name: .long, help: ArgumentHelp(
            "Where the status page, its JSON API and Prometheus metrics are served (host:port; port 0 picks one, written to <state>/http.address), or off.",
            valueName: "address"))
        var http: String = "127.0.0.1:9870"

        func validate() throws {
            guard let span = TimeSpan(text: poll), span.milliseconds >= 50 else { throw ValidationError("--poll must be a duration of at least 50ms") }
            guard http == "off" || httpAddress != nil else { throw ValidationError("--http must be host:port (an IPv4 address or localhost) or off") }
        }

        var httpAddress: (host: String, port: Int)? {
            guard let colon = http.lastIndex(of: ":"), let port = Int(http[http.index(after: colon)...]), (0...65535).contains(port) else { return nil }
            let host = String(http[..<colon])
            let octets = host.split(separator: ".", omittingEmptySubsequences: false)
            guard host == "localhost" || (octets.count == 4 && octets.allSatisfy { UInt8($0) != nil }) else { return nil }
            return (host == "localhost" ? "127.0.0.1" : host, port)
        }

        func run() async throws {
            if let remote {
                guard global.repo != "." else {
                    throw ValidationError("with --remote, --repo names the bare clone Slipway keeps (e.g. --repo /var/lib/slipway/ops.git)")
                }
                try await RemoteSync.cloneIfMissing(remote, to: global.repo)
            }
            let repository = try await global.openRepository()
            let inFlight = InFlight()
            var logger = global.logger
            logger.logLevel = min(logger.logLevel, .notice)
            // One registry per daemon, handed to swift-metrics as its factory (never bootstrapped globally).
            let registry = PrometheusCollectorRegistry()
            var factory = PrometheusMetricsFactory(registry: registry)
            factory.durationHistogramBuckets[Telemetry.durationName] = Telemetry.durationBuckets
            let telemetry = Telemetry(factory: factory)
            let plain = global.engine(repository, progress: inFlight)
            let engine = Engine(repository: repository, configuration: plain.configuration.counting(with: telemetry))
            let sync = remote.map { RemoteSync(url: $0, repository: repository, state: engine.configuration.state, logger: logger) }
            let status = httpAddress.map { StatusServer(host: $0.host, port: $0.port, engine: engine, inFlight: inFlight, registry: registry, logger: logger) }
            try await Daemon.run(engine: engine, inFlight: inFlight, poll: TimeSpan(text: poll)?.duration ?? .seconds(1),
                                 inotify: !noInotify, remote: sync, status: status, logger: logger)
        }
    }

    struct Notify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "notify",
            abstract: "Wake the daemon watching this repository (what the post-receive and post-merge hooks run).")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let state = if let found = global.stateDirectoryByPath { found } else { global.stateDirectory(for: try await global.openRepository()) }
            print(ControlServer.send("notify", to: Daemon.controlSocket(state)) != nil ? "notified" : "no daemon is watching \(state.root.deletingLastPathComponent().path)")
            for other in state.alsoNotified {
                let theirs = GlobalOptions.defaultStateDirectory(ofRepositoryAt: other)
                print(theirs.flatMap { ControlServer.send("notify", to: Daemon.controlSocket($0)) } != nil ? "notified \(other)" : "no daemon is watching \(other)")
            }
        }
    }
}
