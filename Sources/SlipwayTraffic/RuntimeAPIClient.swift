import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An error from HAProxy or from talking to it.
public struct TrafficError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Sends lines to HAProxy's runtime API over its unix socket, one connection per exchange
/// (non-interactive mode: HAProxy answers and closes).
public struct RuntimeAPIClient: Sendable {
    public let socketPath: String

    public init(socketPath: String) { self.socketPath = socketPath }

    /// Sends `commands` joined with `;` in one exchange and returns HAProxy's whole answer.
    public func send(_ commands: [String]) throws -> String {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TrafficError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else {
            throw TrafficError("runtime socket path is \(path.count) bytes, over the system's \(capacity - 1): use a shorter --state-dir")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: path)
            buffer[path.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw TrafficError("cannot reach HAProxy at \(socketPath): \(String(cString: strerror(errno)))") }

        let line = Array((commands.joined(separator: "; ") + "\n").utf8)
        var written = 0
        while written < line.count {
            let count = line[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { throw TrafficError("writing to HAProxy: \(String(cString: strerror(errno)))") }
            written += count
        }
        var answer = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count == 0 { break }
            guard count > 0 else { throw TrafficError("reading from HAProxy: \(String(cString: strerror(errno)))") }
            answer += buffer[..<count]
        }
        return String(decoding: answer, as: UTF8.self)
    }

    /// Sends `commands` and throws when HAProxy refuses any of them.
    public func run(_ commands: [String]) throws {
        let answer = try send(commands)
        if RuntimeCommand.isFailure(answer) {
            throw TrafficError("HAProxy refused \"\(commands.joined(separator: "; "))\": \(answer.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}
