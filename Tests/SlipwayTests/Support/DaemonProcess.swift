import CSlipwaySystem
import Foundation
import SlipwayHost
#if canImport(Glibc)
import Glibc
#endif

/// `slipway watch` running in the background for one test; `with` stops it (SIGTERM, then
/// SIGKILL) whether the test passes or fails.
struct DaemonProcess {
    let pid: pid_t
    let log: URL

    static func with<T>(_ ops: OpsRepoFixture, poll: String = "200ms", arguments: [String] = [],
                        _ body: (DaemonProcess) async throws -> T) async throws -> T {
        let daemon = try start(ops, poll: poll, arguments: arguments)
        do {
            let result = try await body(daemon)
            _ = daemon.stop()
            return result
        } catch {
            _ = daemon.stop()
            throw error
        }
    }

    /// - Parameter environment: added to the test runner's own (e.g. `SLIPWAY_FAILPOINT`).
    static func start(_ ops: OpsRepoFixture, poll: String = "200ms", arguments extra: [String] = [],
                      environment added: [String: String] = [:]) throws -> DaemonProcess {
        let log = ops.root.appendingPathComponent("daemon-\(UUID().uuidString.prefix(6)).log")
        let repo = extra.contains("--repo") ? [] : ["--repo", ops.repo.path]
        // Each daemon's status page on a port of its own (tests run side by side).
        let http = extra.contains("--http") ? [] : ["--http", "127.0.0.1:0"]
        let arguments = [Command.slipway.path, "watch"] + repo + ["--poll", poll, "--log-level", "info"] + http + extra
        let environment = ProcessInfo.processInfo.environment.merging(Command.gitIdentity) { _, new in new }.merging(added) { _, new in new }
        let pid = try Command.background(arguments, environment: environment, log: log)
        return DaemonProcess(pid: pid, log: log)
    }

    /// The exit status once it has exited, nil while it runs.
    func exitStatus() -> Int32? {
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        return ProcessControl.exitStatus(fromWait: status)
    }

    /// SIGTERM, then SIGKILL after 30 s; returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { return ProcessControl.exitStatus(fromWait: status) }
            if reaped < 0 { return -1 }
            usleep(20_000)
        }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return 137
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
}

/// Polls `condition` until it holds or `seconds` pass; returns whether it held.
func eventually(within seconds: Double = 20, _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try condition()
}
