import Foundation
import Testing
@testable import SlipwayHost
#if canImport(Glibc)
import Glibc
#endif

/// The demo service's switches that make a version leak memory or burn CPU per request, seen by
/// `ResourceSampler` on the real process.
@Suite("demo service: leaks and CPU burn, sampled from /proc")
struct DemoServiceResourceTests {
    @Test("--leak-kb-per-request grows its resident memory and --burn-ms-per-request its CPU time, request by request")
    func leakAndBurn() async throws {
        let port = try Ports.free()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-demo-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let pid = try Command.background([Command.productsDirectory.appendingPathComponent("slipway-demo-service").path, "--port", "\(port)",
                                          "--leak-kb-per-request", "512", "--burn-ms-per-request", "25"], log: root.appendingPathComponent("out"))
        defer {
            kill(pid, SIGKILL)
            waitpid(pid, nil, 0)
        }
        #expect(await eventually(within: 10) { fetch(port, "/healthz")?.status == 200 })
        let before = try #require(ResourceSampler.sample(pid: pid))
        for _ in 0..<40 { _ = fetch(port) }
        let after = try #require(ResourceSampler.sample(pid: pid))
        #expect(after.residentBytes - before.residentBytes >= 16 << 20, "40 × 512 KiB kept: \(before) → \(after)")
        #expect(after.cpuSeconds - before.cpuSeconds >= 0.6, "40 × 25 ms spun: \(before) → \(after)")
    }
}
