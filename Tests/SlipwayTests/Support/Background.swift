import Foundation

/// Runs a slipway command on a thread; `wait()` returns its result.
final class Background: @unchecked Sendable {  // `result` is written once by the thread, read after `done`
    private var result: CommandResult?
    private let done = DispatchSemaphore(value: 0)

    init(_ ops: OpsRepoFixture, _ arguments: [String], environment: [String: String] = [:]) {
        Thread.detachNewThread { [self] in
            result = try? ops.slipway(arguments, environment: environment)
            done.signal()
        }
    }

    func wait() -> CommandResult? {
        done.wait()
        return result
    }

    /// Whether it is still running after `seconds` (a negative check: it must not finish).
    func stillRunning(after seconds: Double) -> Bool {
        guard done.wait(timeout: .now() + seconds) == .timedOut else {
            done.signal()
            return false
        }
        return true
    }
}
