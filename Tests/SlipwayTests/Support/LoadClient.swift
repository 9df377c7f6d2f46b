import Foundation
@testable import SlipwayHost

/// Sends GET / to 127.0.0.1:port from its own thread until stopped (at most 60 s and 200,000
/// requests unless told), counting answers that are not 200 and connection errors.
final class LoadClient: @unchecked Sendable {  // counters are guarded by `lock`
    struct Summary {
        let succeeded: Int
        let failed: Int
        let errors: [String]
        let versions: Set<String>
    }

    private let lock = NSLock()
    private let finished = DispatchSemaphore(value: 0)
    private var succeeded = 0
    private var errors: [String] = []
    private var versions: Set<String> = []
    private var stopped = false

    init(port: Int, seconds: Int = 60, requests: Int = 200_000) {
        Thread.detachNewThread { [self] in
            loop(port: port, seconds: seconds, requests: requests)
            finished.signal()
        }
    }

    private func loop(port: Int, seconds: Int, requests: Int) {
        let deadline = ContinuousClock.now + .seconds(seconds)
        for _ in 0..<requests {
            if lock.withLock({ stopped }) || ContinuousClock.now > deadline { return }
            do {
                let response = try RawHTTP.get(host: "127.0.0.1", port: port, path: "/", timeout: .seconds(5))
                record(response.status == 200 ? nil : "HTTP \(response.status): \(response.body)", body: response.body)
            } catch {
                record("\(error)", body: nil)
            }
        }
    }

    private func record(_ error: String?, body: String?) {
        lock.withLock {
            if let error { errors.append(error) } else { succeeded += 1 }
            if let body { versions.insert(body) }
        }
    }

    /// Stops the client (once: a second call, such as a `defer` after a test's own, returns at once).
    func stop() -> Summary {
        let first = lock.withLock { () -> Bool in
            defer { stopped = true }
            return !stopped
        }
        if first { finished.wait() }
        return lock.withLock { Summary(succeeded: succeeded, failed: errors.count, errors: errors, versions: versions) }
    }
}
