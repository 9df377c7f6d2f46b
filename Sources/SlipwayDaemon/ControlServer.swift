import Foundation
import SlipwayRuntime
public import Logging
public import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's control socket (`control.sock` in the state directory, mode 600). One line
/// in, one answer out: `notify` wakes the reconcile loop (what the git hooks send), `status`
/// answers the runs in flight as JSON. Anything else is refused.
public struct ControlServer: Service {
    let socketPath: String
    let triggers: Triggers
    let inFlight: InFlight
    let logger: Logger

    public init(socketPath: String, triggers: Triggers, inFlight: InFlight, logger: Logger) {
        self.socketPath = socketPath
        self.triggers = triggers
        self.inFlight = inFlight
        self.logger = logger
    }

    public func run() async throws {
        let server: Int32
        do {
            server = try UnixSocket.listen(socketPath)
        } catch {
            throw DaemonError("control socket: \(error)")
        }
        let triggers = self.triggers, inFlight = self.inFlight
        let thread = Thread {
            while true {
                let client = accept(server, nil, nil)
                if client < 0 { if errno == EINTR { continue } else { return } }
                var timeout = timeval(tv_sec: 2, tv_usec: 0)
                setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                var buffer = [UInt8](repeating: 0, count: 256)
                let count = buffer.withUnsafeMutableBytes { read(client, $0.baseAddress, $0.count) }
                let command = count > 0 ? String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
                let answer: String
                switch command {
                case "notify":
                    triggers.fire("notify")
                    answer = "ok\n"
                case "status":
                    let encoder = JSONEncoder()
                    encoder.dateEncodingStrategy = .iso8601
                    answer = (try? String(decoding: encoder.encode(inFlight.current), as: UTF8.self)).map { $0 + "\n" } ?? "[]\n"
                default:
                    answer = "error: unknown command\n"
                }
                _ = answer.withCString { write(client, $0, strlen($0)) }
                close(client)
            }
        }
        thread.start()
        try? await gracefulShutdown()
        shutdown(server, Int32(SHUT_RDWR))
        close(server)
        unlink(socketPath)
    }

    /// Sends `command` to a daemon's control socket; nil when no daemon listens there.
    public static func send(_ command: String, to socketPath: String) -> String? {
        guard let fd = try? UnixSocket.connect(socketPath, timeoutSeconds: 5) else { return nil }
        defer { close(fd) }
        return try? UnixSocket.exchange(fd, command + "\n")
    }
}
