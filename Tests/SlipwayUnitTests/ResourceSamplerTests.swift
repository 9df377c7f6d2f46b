import Foundation
import Testing
@testable import SlipwayHost
#if canImport(Glibc)
import Glibc
#endif

@Suite("resource samples from /proc")
struct ResourceSamplerTests {
    /// A stat line of pid `pid` in session `session`: utime 250, stime 50, start 100, 500 pages.
    static func stat(_ pid: Int32, session: Int32, name: String = "web (1) x", start: Int = 100, ticks: (Int, Int) = (250, 50), pages: Int = 500) -> String {
        "\(pid) (\(name)) S 1 \(session) \(session) 0 -1 4194560 1200 0 0 0 \(ticks.0) \(ticks.1) 0 0 20 0 4 0 \(start) 1000000 \(pages) 18446744073709551615"
    }

    @Test("a stat line parses, a command name with spaces and ')' included; a cut line does not")
    func parse() throws {
        let stat = try #require(ProcessStat(line: Substring(Self.stat(4242, session: 4242))))
        #expect(stat == ProcessStat(line: Substring(Self.stat(4242, session: 4242))))
        #expect((stat.pid, stat.session, stat.cpuTicks, stat.startTime, stat.residentPages) == (4242, 4242, 300, 100, 500))
        let reaped = try #require(ProcessStat(line: Substring(Self.stat(1, session: 1).replacingOccurrences(of: " 250 50 0 0 ", with: " 250 50 30 20 "))))
        #expect(reaped.cpuTicks == 350, "children waited for count: a recycled worker's CPU is not lost")
        let huge = "1 (x) S 1 1 1 0 -1 0 0 0 0 0 18446744073709551615 18446744073709551615 0 0 20 0 1 0 1 0 9223372036854775807 0"
        let bounded = try #require(ProcessStat(line: Substring(huge)))
        let sum = ResourceSampler.totals([bounded], openFiles: [1: Int.max], leaders: [ProcessIdentity(pid: 1, startTime: 1)], ticksPerSecond: 100, pageSize: 1 << 21)
        #expect(sum.count == 1, "absurd figures are clamped, never trapped on")
        #expect(ProcessStat(line: "4242 (web") == nil)
        #expect(ProcessStat(line: "4242 (web) S 1 2 3") == nil)
    }

    @Test("an instance is its whole session; a leader whose pid was reused is not read")
    func sessions() throws {
        let stats = [Self.stat(10, session: 10), Self.stat(11, session: 10, name: "child"), Self.stat(20, session: 20, start: 999), Self.stat(30, session: 99)]
            .compactMap { ProcessStat(line: Substring($0)) }
        let leaders = [ProcessIdentity(pid: 10, startTime: 100), ProcessIdentity(pid: 20, startTime: 100)]
        let totals = ResourceSampler.totals(stats, openFiles: [10: 5, 11: 2], leaders: leaders, ticksPerSecond: 100, pageSize: 4096)
        #expect(totals[leaders[0]] == ResourceSample(cpuSeconds: 6, residentBytes: 1000 * 4096, openFiles: 7))
        #expect(totals[leaders[1]] == nil, "pid 20 started at 999, not at 100: another process")
    }

    @Test("the usage script's output adds up for the instances asked about, by their own identity; a second clock line or a bad one is ignored")
    func remoteOutput() {
        let asked = ["web-a": ProcessIdentity(pid: 10, startTime: 100), "web-b": ProcessIdentity(pid: 30, startTime: 100)]
        let output = ["T 100 4096", "P 5 " + Self.stat(10, session: 10), "P 2 " + Self.stat(11, session: 10), "T 1 4611686018427387904",
                      "P x " + Self.stat(12, session: 10), "garbage", "P 1 " + Self.stat(30, session: 30, start: 7)].joined(separator: "\n")
        #expect(RemoteInstances.usage(fromOutput: output, of: asked) == ["web-a": ResourceSample(cpuSeconds: 6, residentBytes: 1000 * 4096, openFiles: 7)],
                "web-b's pid runs another process (started at 7): not read")
        #expect(RemoteInstances.usage(fromOutput: "T 0 4096\nP 5 " + Self.stat(10, session: 10), of: asked).isEmpty, "a clock of 0 ticks reads nothing")
    }

    @Test("this process samples from the real /proc; as an instance it is read only when it leads its session")
    func live() throws {
        let own = ResourceSampler.sample(pid: getpid())
        #expect((own?.residentBytes ?? 0) > 1 << 20 && (own?.openFiles ?? 0) > 2 && (own?.cpuSeconds ?? -1) >= 0, "\(String(describing: own))")
        #expect(ResourceSampler.sample(pid: Int32.max) == nil, "a process that is not there")
        let leader = try #require(ProcessControl.startTime(of: getpid()).map { ProcessIdentity(pid: getpid(), startTime: $0) })
        // This test process is not a session leader: nothing is read for it as an instance.
        #expect(ResourceSampler.sample([leader]).isEmpty == (getsid(0) != getpid()))
    }
}
