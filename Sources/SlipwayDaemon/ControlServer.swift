import Foundation
import Synchronization
import CSlipwaySystem
import SlipwayHost
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

    /// Clients served at once; more are closed at once. Each has `clientTimeout` in all to
    /// send its line and take its answer, so a silent or slow client only ever holds one slot.
    static let maximumClients = 16
    static let clientTimeout: Duration = .seconds(2)

    public func run() async throws {
        let server: Int32
        do {
            server = try UnixSocket.listen(socketPath)
        } catch {
            throw DaemonError("control socket: \(ErrorText.sentence(error))")
        }
        let triggers = self.triggers, inFlight = self.inFlight, logger = self.logger
        let busy = Mutex(0)
        let thread = Thread {
            while true {
                let client = slipway_accept_cloexec(server)
                if client < 0 {
                    switch errno {
                    case EINTR, ECONNABORTED: continue
                    case EBADF, EINVAL, ENOTSOCK: return  // the socket was shut down
                    default:
                        // Out of descriptors or memory, or an error the kernel reports for one
                        // connection: let some close and go on; only shutdown ends the loop.
                        usleep(10_000)
                        continue
                    }
                }
                let admitted = busy.withLock { count -> Bool in
                    guard count < Self.maximumClients else { return false }
                    count += 1
                    return true
                }
                guard admitted else {
                    close(client)
                    continue
                }
                Thread.detachNewThread {
                    defer {
                        close(client)
                        busy.withLock { $0 -= 1 }
                    }
                    let command = Self.readCommand(client)
                    logger.trace("control command", metadata: ["command": "\(command ?? "(none)")"])
                    Self.answer(Self.handle(command, triggers: triggers, inFlight: inFlight), to: client)
                }
            }
        }
        thread.start()
        try? await gracefulShutdown()
        shutdown(server, Int32(SHUT_RDWR))
        close(server)
        unlink(socketPath)
    }

    /// The answer to one command line.
    static func handle(_ command: String?, triggers: Triggers, inFlight: InFlight) -> String {
        switch command {
        case "notify":
            triggers.fire("notify")
            return "ok\n"
        case "status":
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            return (try? String(decoding: encoder.encode(inFlight.current), as: UTF8.self)).map { $0 + "\n" } ?? "[]\n"
        default:
            return "error: unknown command\n"
        }
    }

    /// One line of at most 256 bytes, read within `clientTimeout` in all; nil when the client
    /// sent nothing usable in time.
    static func readCommand(_ client: Int32) -> String? {
        let deadline = ContinuousClock.now + clientTimeout
        var line: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        while line.count < 256, !line.contains(10) {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return nil }
            // Rounded up to the next microsecond, which must stay under a million (EDOM: no timeout at all).
            let micro = min(Int(left.components.attoseconds / 1_000_000_000_000) + 1, 999_999)
            var timeout = timeval(tv_sec: Int(left.components.seconds), tv_usec: micro)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let count = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count - line.count, 0) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            line += buffer[..<count]
        }
        let text = String(decoding: line.prefix { $0 != 10 }, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    /// Writes the answer within `clientTimeout`; a client that went away (EPIPE) or reads
    /// nothing is dropped, never a signal to the daemon.
    static func answer(_ text: String, to client: Int32) {
        var timeout = timeval(tv_sec: Int(clientTimeout.components.seconds), tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { Glibc.send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            written += count
        }
    }

    /// Sends `command` to a daemon's control socket; nil when no daemon listens there.
    public static func send(_ command: String, to socketPath: String) -> String? {
        guard let fd = try? UnixSocket.connect(socketPath, timeoutSeconds: 5) else { return nil }
        defer { close(fd) }
        return try? UnixSocket.exchange(fd, command + "\n")
    }
}
