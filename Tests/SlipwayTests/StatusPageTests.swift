import Foundation
import Testing
@testable import SlipwayHost
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's status page, JSON API and metrics, read by real clients: Debian's Prometheus,
/// headless Chromium, plain HTTP.
@Suite("Status page and metrics", .serialized)
struct StatusPageTests {
    func records(_ ops: OpsRepoFixture) throws -> Int {
        try ops.git(["log", "--format=%H", "--", "Deployments"]).split(separator: "\n").count
    }

    /// The address the daemon's status server bound (`--http 127.0.0.1:0`).
    func address(_ ops: OpsRepoFixture) async -> (host: String, port: Int)? {
        let file = ops.stateDirectory.appendingPathComponent("http.address")
        var found: (String, Int)?
        _ = await eventually(within: 20) {
            let text = (try? String(contentsOf: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else { return false }
            found = (String(text[..<colon]), port)
            return true
        }
        return found
    }

    @Test("a real Prometheus scrapes the daemon and the environment's HAProxy; the series come back through its HTTP API")
    func scraped() async throws {
        try await OpsRepoFixture.with { ops in
            let port = try Ports.free(), stats = try Ports.free()
            try await DaemonProcess.with(ops) { daemon in
                let manifest = testManifest(version: "1.0.0", listen: port).replacingOccurrences(
                    of: "traffic: { listen: \"127.0.0.1:\(port)\" }", with: "traffic: { listen: \"127.0.0.1:\(port)\", stats: \"127.0.0.1:\(stats)\" }")
                try ops.commit("Environments/production.yaml", manifest)
                #expect(try await eventually { try records(ops) == 1 }, "\(daemon.output)")
                let http = try #require(await address(ops), "\(daemon.output)")
                #expect(http.host == "127.0.0.1")
                let api = try RawHTTP.get(host: "127.0.0.1", port: http.port, path: "/api/environments")
                #expect(api.status == 200 && api.body.contains(#""environment":"production""#) && api.body.contains(#""version":"1.0.0""#), "\(api.body)")
                let configs = """
                      - job_name: slipway
                        static_configs: [{ targets: ["127.0.0.1:\(http.port)"] }]
                      - job_name: haproxy
                        static_configs: [{ targets: ["127.0.0.1:\(stats)"] }]

                    """
                try await PrometheusServer.with(in: ops.root, scrapeConfigs: configs) { prometheus in
                    let queries: [String: Double] = [
                        #"slipway_deployments_total{env="production",result="succeeded"}"#: 1.0,
                        #"slipway_instances{env="production",version="1.0.0",state="serving"}"#: 2,
                        #"count(slipway_deployment_duration_seconds_bucket{env="production"}) > bool 0"#: 1,
                        #"sum(haproxy_server_status{proxy="app",state="UP"})"#: 2,
                        #"count(haproxy_frontend_current_sessions{proxy="front"})"#: 1,
                    ]
                    for (query, expected) in queries {
                        let value = await prometheus.wait(for: query, toBe: expected)
                        let metrics = (try? RawHTTP.get(host: "127.0.0.1", port: http.port, path: "/metrics"))?.body ?? ""
                        #expect(value == expected, "\(query): \(String(describing: value)); the daemon serves:\n\(metrics)")
                    }
                }
            }
        }
    }
}
