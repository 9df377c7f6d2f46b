import Foundation
import CSlipwaySystem

/// Who listens on a TCP port on this machine, from `/proc` — for an error that names the
/// process in the way (a HAProxy whose state directory was deleted, another Slipway's, anything).
public enum PortHolder {
    /// `pid N (program)` of a process listening on `port`, nil when none is found.
    public static func describe(port: Int) -> String? {
        holders(port: port).first.map(describe)
    }

    /// `pid N (program)`.
    public static func describe(_ pid: Int32) -> String { "pid \(pid) (\(program(of: pid)))" }

    /// The processes listening on `port`, lowest pid first.
    public static func holders(port: Int) -> [Int32] {
        let inodes = listeningInodes(port: port)
        guard !inodes.isEmpty else { return [] }
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }.sorted()
        return pids.filter { !socketInodes(of: $0).isDisjoint(with: inodes) }
    }

    /// Whether process `pid` was started with `text` among its arguments (compared only, never shown).
    public static func arguments(of pid: Int32, contain text: String) -> Bool {
        let raw = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
        return raw.split(separator: 0).contains { String(decoding: $0, as: UTF8.self).contains(text) }
    }

    /// Whether process `pid` listens on `port`.
    public static func holds(_ pid: Int32, port: Int) -> Bool {
        !socketInodes(of: pid).isDisjoint(with: listeningInodes(port: port))
    }

    /// Whether `host:port` (an IPv4 literal, `localhost` or `*`) is taken: binding it fails with
    /// EADDRINUSE, because something listens there (TIME_WAIT connections do not count).
    public static func isTaken(host: String, port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
        let literal = host == "localhost" ? "127.0.0.1" : host
        if host == "*" {
            address.sin_addr.s_addr = 0  // INADDR_ANY
        } else if inet_pton(AF_INET, literal, &address.sin_addr) != 1 {
            return false
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return bound != 0 && errno == EADDRINUSE
    }

    /// Inodes of the sockets process `pid` has open.
    static func socketInodes(of pid: Int32) -> Set<String> {
        let folder = "/proc/\(pid)/fd"
        return Set(((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).compactMap { fd in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(folder)/\(fd)"), target.hasPrefix("socket:[") else { return nil }
            return String(target.dropFirst(8).dropLast())
        })
    }

    /// Every TCP port something listens on, asked of the kernel once (its socket diagnostics);
    /// nil when it cannot be asked. Only a listener is ever named as a port's holder (see
    /// `MachineCheck.addressesTaken`), so a port not in it holds nothing back: planning thousands
    /// of environments asks this once, then `isTaken` of the few ports in it.
    public static func listeningPorts() -> Set<Int>? {
        let capacity = 1 << 17
        var ports = [UInt16](repeating: 0, count: capacity)
        let count = ports.withUnsafeMutableBufferPointer { slipway_listening_ports($0.baseAddress, Int32(capacity)) }
        guard count >= 0 else { return nil }
        return Set(ports.prefix(Int(count)).map(Int.init))
    }

    /// Socket inodes in LISTEN state (`0A`) on `port`, IPv4 and IPv6. Read twice when the first
    /// read finds none: /proc/net/tcp is read page by page while connections come and go, and on
    /// a busy machine one read can skip a listener (seen under load). Callers ask only of a port
    /// that is taken, so a second read costs only then.
    static func listeningInodes(port: Int) -> Set<String> {
        let hexPort = String(format: "%04X", port)
        for _ in 0..<2 {
            var inodes: Set<String> = []
            for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
                guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
                for line in text.split(separator: "\n").dropFirst() {
                    let fields = line.split(separator: " ")
                    guard fields.count > 9, fields[3] == "0A", fields[1].hasSuffix(":" + hexPort) else { continue }
                    inodes.insert(String(fields[9]))
                }
            }
            if !inodes.isEmpty { return inodes }
        }
        return []
    }

    /// The program only: its arguments may hold what belongs to someone else (a password on a
    /// command line), and the reason goes into a committed record.
    private static func program(of pid: Int32) -> String {
        let raw = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
        let program = raw.split(separator: 0).first.map { String(decoding: $0, as: UTF8.self) } ?? "?"
        return program.count > 120 ? String(program.prefix(120)) + "…" : program
    }
}
