import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What one instance uses, read from the kernel: CPU time so far, resident memory, open files.
/// An instance is its whole session (Slipway starts each in a session of its own), so a
/// wrapper script's children count with it.
public struct ResourceSample: Sendable, Hashable {
    /// User and system CPU time since the processes started.
    public let cpuSeconds: Double
    public let residentBytes: Int
    public let openFiles: Int

    public init(cpuSeconds: Double, residentBytes: Int, openFiles: Int) {
        self.cpuSeconds = cpuSeconds
        self.residentBytes = residentBytes
        self.openFiles = openFiles
    }
}

/// One line of `/proc/PID/stat`, the fields Slipway needs: whether a process is still the one
/// it started (start time, exited) and what it uses (session, CPU, memory).
struct ProcessStat: Hashable {
    let pid: Int32
    /// Zombie or dead: gone, though its pid is not free yet.
    let exited: Bool
    let session: Int32
    let cpuTicks: UInt64
    let startTime: UInt64
    let residentPages: Int

    /// The command name (field 2) is in parentheses and may hold spaces and `)`: the fields
    /// are counted after the last `)`.
    init?(line: Substring) {
        guard let close = line.lastIndex(of: ")"), let pid = Int32(line.prefix { $0 != " " }) else { return nil }
        let fields = line[line.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        // After the name: state is field 3, session 6, utime 14, stime 15, cutime 16, cstime 17
        // (children waited for: a recycled worker's CPU stays counted), starttime 22, rss 24.
        guard fields.count > 21, let session = Int32(fields[3]), let start = UInt64(fields[19]), let pages = Int(fields[21]) else { return nil }
        let ticks = fields[11...14].compactMap { UInt64($0) }
        guard ticks.count == 4 else { return nil }
        (self.pid, self.session, startTime) = (pid, session, start)
        exited = fields[0] == "Z" || fields[0] == "X"
        cpuTicks = ticks.reduce(0) { $0 &+ min($1, 1 << 48) }  // bounded: what a host prints cannot overflow a sum
        residentPages = min(max(0, pages), 1 << 40)
    }

    /// This machine's `/proc/<pid>/stat`; nil when there is no such process. At most 16 KiB is
    /// read (the line is short; nothing read here grows without bound).
    static func read(_ pid: Int32) -> ProcessStat? {
        guard let handle = FileHandle(forReadingAtPath: "/proc/\(pid)/stat") else { return nil }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 16_384)).flatMap { ProcessStat(line: Substring(String(decoding: $0, as: UTF8.self))) }
    }
}

/// Samples instances through `/proc`: here, or (with `RemoteInstances.usage`) on a fleet host,
/// where the same lines are read by a script and added up here.
public enum ResourceSampler {
    /// The instances started as `leaders`, in one pass over this machine's `/proc`. An instance
    /// whose leader is gone, or is another process by now (pid reused), is left out.
    public static func sample(_ leaders: [ProcessIdentity]) -> [ProcessIdentity: ResourceSample] {
        guard !leaders.isEmpty else { return [:] }
        let sessions = Set(leaders.map(\.pid))
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
        var stats: [ProcessStat] = [], files: [Int32: Int] = [:]
        for pid in pids {
            guard let stat = ProcessStat.read(pid), sessions.contains(stat.session) else { continue }
            stats.append(stat)
            files[pid] = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
        }
        return totals(stats, openFiles: files, leaders: leaders, ticksPerSecond: Double(sysconf(Int32(_SC_CLK_TCK))),
                      pageSize: Int(sysconf(Int32(_SC_PAGESIZE))))
    }

    /// One process on its own, whatever its session.
    static func sample(pid: Int32) -> ResourceSample? {
        guard let stat = ProcessStat.read(pid) else { return nil }
        let files = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
        return ResourceSample(cpuSeconds: Double(stat.cpuTicks) / Double(sysconf(Int32(_SC_CLK_TCK))),
                              residentBytes: stat.residentPages * Int(sysconf(Int32(_SC_PAGESIZE))), openFiles: files)
    }

    /// Adds up each leader's session. A leader must be among `stats` with its start time: a
    /// pid taken by another process since is not the instance.
    static func totals(_ stats: [ProcessStat], openFiles: [Int32: Int], leaders: [ProcessIdentity],
                       ticksPerSecond: Double, pageSize: Int) -> [ProcessIdentity: ResourceSample] {
        guard (1...10_000).contains(ticksPerSecond), (512...(1 << 21)).contains(pageSize) else { return [:] }
        let bySession = Dictionary(grouping: stats, by: \.session)
        var result: [ProcessIdentity: ResourceSample] = [:]
        for leader in leaders {
            guard let members = bySession[leader.pid],
                  members.contains(where: { $0.pid == leader.pid && $0.startTime == leader.startTime }) else { continue }
            // Added up as Double: a hostile host's figures are clamped, never trapped on.
            let resident = members.reduce(0.0) { $0 + Double($1.residentPages) } * Double(pageSize)
            result[leader] = ResourceSample(cpuSeconds: members.reduce(0.0) { $0 + Double($1.cpuTicks) } / ticksPerSecond,
                                            residentBytes: Int(min(resident, Double(1 << 60))),
                                            openFiles: members.reduce(0) { $0 + min(max(0, openFiles[$1.pid] ?? 0), 1 << 20) })
        }
        return result
    }
}
