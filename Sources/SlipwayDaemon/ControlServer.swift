import Foundation
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
        unlink(socketPath)
        let server = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard server >= 0 else { throw DaemonError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else { throw DaemonError("control socket path too long: \(socketPath)") }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path + [0]) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(server, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, chmod(socketPath, 0o600) == 0, listen(server, 16) == 0 else {
            throw DaemonError("cannot listen on \(socketPath): \(String(cString: strerror(errno)))")
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
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path + [0]) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { return nil }
        _ = (command + "\n").withCString { write(fd, $0, strlen($0)) }
        var answer = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            answer += buffer[..<count]
        }
        return String(decoding: answer, as: UTF8.self)
    }
}
