import Foundation

/// Who listens on a TCP port on this machine, from `/proc` — for an error that names the
/// process in the way (a HAProxy whose state directory was deleted, another Slipway's, anything).
public enum PortHolder {
    /// `pid N (program)` of a process listening on `port`, nil when none is found.
    public static func describe(port: Int) -> String? {
        let inodes = listeningInodes(port: port)
        guard !inodes.isEmpty else { return nil }
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }.sorted()
        for pid in pids {
            let folder = "/proc/\(pid)/fd"
            for fd in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(folder)/\(fd)"),
                      target.hasPrefix("socket:["), inodes.contains(String(target.dropFirst(8).dropLast())) else { continue }
                return "pid \(pid) (\(program(of: pid)))"
            }
        }
        return nil
    }

    /// Socket inodes in LISTEN state (`0A`) on `port`, IPv4 and IPv6.
    static func listeningInodes(port: Int) -> Set<String> {
        let hexPort = String(format: "%04X", port)
        var inodes: Set<String> = []
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                guard fields.count > 9, fields[3] == "0A", fields[1].hasSuffix(":" + hexPort) else { continue }
                inodes.insert(String(fields[9]))
            }
        }
        return inodes
    }

    /// The program only: its arguments may hold what belongs to someone else (a password on a
    /// command line), and the reason goes into a committed record.
    private static func program(of pid: Int32) -> String {
        let raw = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
        let program = raw.split(separator: 0).first.map { String(decoding: $0, as: UTF8.self) } ?? "?"
        return program.count > 120 ? String(program.prefix(120)) + "…" : program
    }
}
