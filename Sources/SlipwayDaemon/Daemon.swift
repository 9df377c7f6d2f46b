import Foundation
public import Logging
import ServiceLifecycle
public import SlipwayEngine

/// `slipway watch`: one daemon per ops repo (it holds the repository lock for its life), made
/// of the ref watcher, the reconcile loop and the control socket, run by one ServiceGroup that
/// shuts down gracefully on SIGTERM or SIGINT.
public enum Daemon {
    public static func controlSocket(_ state: StateDirectory) -> String {
        state.root.appendingPathComponent("control.sock").path
    }

    /// - Parameters:
    ///   - remote: set in remote mode: fetched and pushed on every wake-up of the loop, and
    ///     polled every `poll` (the local clone's ref only moves when Slipway moves it).
    ///   - status: the status page and metrics server, when it is on.
    public static func run(engine: Engine, inFlight: InFlight, poll: Duration, inotify: Bool = true, remote: RemoteSync? = nil,
                           status: StatusServer? = nil, logger: Logger) async throws {
        let lock = try RepositoryLock(file: engine.configuration.state.lockFile)
        defer { withExtendedLifetime(lock) {} }
        let triggers = Triggers()
        let repository = engine.repository
        let watcher: any Service = remote == nil
            ? RefWatcher(refFile: repository.git.gitDirectory.appendingPathComponent(repository.branch),
                         gitDirectory: repository.git.gitDirectory, interval: poll, inotify: inotify, triggers: triggers, logger: logger)
            : RemotePoller(interval: poll, triggers: triggers)
        let services: [any Service] = [
            watcher,
            ControlServer(socketPath: controlSocket(engine.configuration.state), triggers: triggers, inFlight: inFlight, logger: logger),
            Reconciler(engine: engine, triggers: triggers, inFlight: inFlight, remote: remote, logger: logger),
        ] + (status.map { [$0] } ?? [])
        let group = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        logger.notice("watching", metadata: ["branch": "\(repository.branch)", "poll": "\(poll)"])
        try await group.run()
        triggers.finish()
        // The last run's events may still be on their way: a few seconds for them, not more.
        await engine.configuration.notifier.drain(within: .seconds(5))
        logger.notice("stopped")
    }
}
