import Foundation
#if canImport(Glibc)
import Glibc
#endif

import SlipwayHost

/// The tests' own HTTP client: one GET over a fresh TCP connection (`Connection: close`), from
/// a plain thread. Load tests count every request as a new connection through HAProxy, as the
/// benchmarks' wrk does not; Slipway's own checks go through `HTTPProbe`.
enum RawHTTP {
    /// - Parameter hostHeader: the Host header sent (default: `host:port`).
    static func get(host: String, port: Int, path: String, timeout: Duration = .seconds(2), hostHeader: String? = nil) throws -> HTTPProbe.Response {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let milliseconds = Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        var time = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr(["*", "localhost", "0.0.0.0"].contains(host) ? "127.0.0.1" : host)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestFailure("connect \(host):\(port): \(String(cString: strerror(errno)))") }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(hostHeader ?? "\(host):\(port)")\r\nConnection: close\r\nUser-Agent: slipway\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            throw TestFailure("send to \(host):\(port): \(String(cString: strerror(errno)))")
        }
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while data.count < 1_048_576 {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { break }
            guard count > 0 else { throw TestFailure("no answer from \(host):\(port) within \(timeout)") }
            data += buffer[..<count]
        }
        let text = String(decoding: data, as: UTF8.self)
        let statusLine = text.prefix { $0 != "\r" && $0 != "\n" }.split(separator: " ")
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/"), let status = Int(statusLine[1]) else {
            throw TestFailure("\(host):\(port) did not answer with HTTP")
        }
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return HTTPProbe.Response(status: status, body: body)
    }
}
