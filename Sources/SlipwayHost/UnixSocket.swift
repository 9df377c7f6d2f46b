import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Unix-domain stream sockets (HAProxy's runtime API, Slipway's control socket).
public enum UnixSocket {
    /// The address of `path`; nil when the path is longer than the kernel allows (108 bytes).
    static func address(_ path: String) -> sockaddr_un? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes + [0]) }
        return address
    }

    /// A connected socket to `path` with send and receive timeouts; the caller closes it.
    public static func connect(_ path: String, timeoutSeconds: Int = 10) throws -> Int32 {
        guard var address = address(path) else {
            throw LaunchError("socket path is \(path.utf8.count) bytes, over the system's 107: use a shorter --state-dir (\(path))")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw LaunchError("socket: \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw LaunchError("cannot connect to \(path): \(reason)")
        }
        return fd
    }

    /// A listening socket at `path` (any stale socket file removed first), mode 600.
    public static func listen(_ path: String, backlog: Int32 = 16) throws -> Int32 {
        guard var address = address(path) else { throw LaunchError("socket path too long: \(path)") }
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw LaunchError("socket: \(String(cString: strerror(errno)))") }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, chmod(path, 0o600) == 0, Glibc.listen(fd, backlog) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw LaunchError("cannot listen on \(path): \(reason)")
        }
        return fd
    }

    /// Writes `text`, then reads until the peer closes; the answer as text.
    public static func exchange(_ fd: Int32, _ text: String) throws -> String {
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw LaunchError("write: \(String(cString: strerror(errno)))") }
            written += count
        }
        var answer = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count == 0 { break }
            guard count > 0 else { throw LaunchError("read: \(String(cString: strerror(errno)))") }
            answer += buffer[..<count]
        }
        return String(decoding: answer, as: UTF8.self)
    }
}
