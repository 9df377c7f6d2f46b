import Foundation
import SlipwayHost
#if canImport(Glibc)
import Glibc
#endif

/// Debian's `prometheus` running for one test on 127.0.0.1, scraping every second what the
/// test names; `with` stops it and removes its data whether the test passes or fails.
struct PrometheusServer {
    let port: Int
    var url: String { "http://127.0.0.1:\(port)" }

    /// - Parameter scrapeConfigs: YAML items of `scrape_configs`, indented as list items.
    static func with<T>(in root: URL, scrapeConfigs: String, _ body: (PrometheusServer) async throws -> T) async throws -> T {
        let folder = root.appendingPathComponent("prometheus-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let config = folder.appendingPathComponent("prometheus.yml")
        try """
            global: { scrape_interval: 1s, evaluation_interval: 1s }
            scrape_configs:
            \(scrapeConfigs)
            """.write(to: config, atomically: true, encoding: .utf8)
        let port = try Ports.free()
        let pid = try Command.background(
            ["/usr/bin/prometheus", "--config.file=\(config.path)", "--storage.tsdb.path=\(folder.appendingPathComponent("data").path)",
             "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn"],
            log: folder.appendingPathComponent("prometheus.log"))
        defer {
            kill(pid, SIGKILL)
            waitpid(pid, nil, 0)
        }
        let server = PrometheusServer(port: port)
        guard await eventually(within: 30, { (try? RawHTTP.get(host: "127.0.0.1", port: port, path: "/-/ready"))?.status == 200 }) else {
            throw TestFailure("prometheus did not become ready: \((try? String(contentsOf: folder.appendingPathComponent("prometheus.log"), encoding: .utf8)) ?? "")")
        }
        return try await body(server)
    }

    /// A query's value now, through the HTTP API (nil: no data).
    func value(_ query: String) async -> Double? {
        try? await PrometheusQuery.value(of: query, at: url)
    }

    /// Polls `query` until it gives `expected` or `seconds` pass; returns the last value.
    func wait(for query: String, toBe expected: Double, within seconds: Double = 30) async -> Double? {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        var last = await value(query)
        while last != expected, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(250))
            last = await value(query)
        }
        return last
    }
}
