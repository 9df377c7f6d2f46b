import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Free TCP ports on the loopback interface.
public enum Ports {
    /// A port that was free a moment ago, chosen below the kernel's ephemeral range: the
    /// kernel's own pick (bind to port 0) comes from the range outgoing connections also use,
    /// so under load a client could take it between this check and the instance's bind.
    public static func free() throws -> Int {
        let lowestEphemeral = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))
            .flatMap { Int($0.split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "") } ?? 32_768
        if lowestEphemeral > 11_000 {
            for _ in 0..<64 {
                let port = Int.random(in: 10_000..<lowestEphemeral)
                if let bound = (try? bindable(port)) ?? nil { return bound }
            }
        }
        guard let port = try bindable(0) else { throw LaunchError("no free port on 127.0.0.1") }
        return port
    }

    /// Binds 127.0.0.1:`port` and releases it; returns the port bound (the kernel's choice
    /// for 0), nil when it is taken.
    private static func bindable(_ port: Int) throws -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw LaunchError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw -> Int32 in
                guard bind(fd, raw, length) == 0 else { return -1 }
                return getsockname(fd, raw, &length)
            }
        }
        guard bound == 0 else {
            if port != 0 { return nil }
            throw LaunchError("bind: \(String(cString: strerror(errno)))")
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
