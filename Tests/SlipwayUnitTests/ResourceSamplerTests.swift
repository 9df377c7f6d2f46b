import Foundation
import Testing
@testable import SlipwayHost
#if canImport(Glibc)
import Glibc
#endif

@Suite("resource samples from /proc")
struct ResourceSamplerTests {
    @Test("stat and status lines parse, a command name with spaces and ')' included; this process samples")
    func parse() {
        let stat = "4242 (web (1) x) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 50 0 0 20 0 4 0 100 1000000 500 18446744073709551615"
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        #expect(ResourceSampler.cpuSeconds(fromStat: stat) == 300 / ticks)
        #expect(ResourceSampler.cpuSeconds(fromStat: "4242 (web") == nil)
        #expect(ResourceSampler.residentBytes(fromStatus: "Name:\tweb\nVmRSS:\t   2048 kB\nThreads:\t4\n") == 2048 * 1024)
        #expect(ResourceSampler.residentBytes(fromStatus: "Name:\tweb\n") == nil)
        let own = ResourceSampler.sample(pid: getpid())
        #expect((own?.residentBytes ?? 0) > 1 << 20 && (own?.openFiles ?? 0) > 2 && (own?.cpuSeconds ?? -1) >= 0, "\(String(describing: own))")
        #expect(ResourceSampler.sample(pid: Int32.max) == nil, "a process that is not there")
    }
}
