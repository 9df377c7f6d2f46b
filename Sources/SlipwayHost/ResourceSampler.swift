import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What one process uses, read from the kernel: CPU time so far, resident memory, open files.
public struct ResourceSample: Sendable, Hashable {
    /// User and system CPU time since the process started.
    public let cpuSeconds: Double
    public let residentBytes: Int
    public let openFiles: Int

    public init(cpuSeconds: Double, residentBytes: Int, openFiles: Int) {
        self.cpuSeconds = cpuSeconds
        self.residentBytes = residentBytes
        self.openFiles = openFiles
    }
}

/// Samples processes of this machine through `/proc` (the first piece of issue 15's resource
/// checks: instances on other machines will be sampled over their ssh connection).
public enum ResourceSampler {
    /// Now, for `pid`; nil when it is gone or cannot be read.
    public static func sample(pid: Int32) -> ResourceSample? {
        guard let stat = read("/proc/\(pid)/stat"), let cpu = cpuSeconds(fromStat: stat),
              let status = read("/proc/\(pid)/status"), let resident = residentBytes(fromStatus: status) else { return nil }
        let files = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
        return ResourceSample(cpuSeconds: cpu, residentBytes: resident, openFiles: files)
    }

    /// utime + stime of a `/proc/PID/stat` line, in seconds. The command name (field 2) is in
    /// parentheses and may hold spaces and `)`: the fields are counted after the last `)`.
    static func cpuSeconds(fromStat text: String) -> Double? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the name: state is field 3, so utime (14) and stime (15) are the 12th and 13th.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ticks > 0 ? (user + system) / ticks : nil
    }

    /// `VmRSS` of a `/proc/PID/status`, in bytes.
    static func residentBytes(fromStatus text: String) -> Int? {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        let parts = line.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count >= 2, let kilobytes = Int(parts[1]) else { return nil }
        return kilobytes * 1024
    }

    /// At most 16 KiB of a /proc file (they are small; nothing read here grows without bound).
    private static func read(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 16_384)).map { String(decoding: $0, as: UTF8.self) }
    }
}
