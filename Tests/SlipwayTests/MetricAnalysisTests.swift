import Foundation
import Testing
@testable import SlipwayRecords
@testable import SlipwayHost

/// `rollback.metrics` against a real Prometheus (Debian's) that scrapes the instances Slipway
/// lists in `targets.json`: the demo service's business metric, labelled with its version.
@Suite("Prometheus queries as analysis", .serialized)
struct MetricAnalysisTests {
    static func scrape(_ ops: OpsRepoFixture) -> String {
        """
          - job_name: instances
            file_sd_configs: [{ files: ["\(ops.stateDirectory.path)/targets/*.json"], refresh_interval: 1s }]

        """
    }

    static let failedShare = #"sum(rate(demo_orders_failed_total{env="{env}",version="{version}"}[5s])) / sum(rate(demo_orders_total{env="{env}",version="{version}"}[5s]))"#

    /// Deploys 1.0.0, then 2.0.0 as a canary under load with `metrics` as `rollback.metrics`.
    func deploy(_ ops: OpsRepoFixture, prometheus: PrometheusServer, canaryArguments: [String], metrics: String,
                stepDuration: String = "6s") async throws -> (CommandResult, LoadClient.Summary, DeploymentRecord) {
        let port = try Ports.free()
        try ops.commit("Environments/production.yaml", testManifest(version: "1.0.0", listen: port))
        let first = try ops.slipway(["apply"])
        #expect(first.status == 0, "\(first.output)")
        // Prometheus scrapes the baseline before the canary starts.
        let scraped = await eventually(within: 20) {
            (try? RawHTTP.get(host: "127.0.0.1", port: prometheus.port, path: "/api/v1/query?query=demo_orders_total"))?.body.contains("1.0.0") == true
        }
        #expect(scraped, "Prometheus scrapes the instances listed in targets.json")
        try ops.commit("Environments/production.yaml", testManifest(
            version: "2.0.0", listen: port, extraArguments: canaryArguments,
            strategy: "canary: { steps: [50, 100], stepDuration: \(stepDuration), analysisInterval: 2s }",
            rollback: "rollback:\n  minRequests: 10\n  prometheus: \(prometheus.url)\n  metrics:\n\(metrics)"))
        let client = LoadClient(port: port)
        let result = try ops.slipway(["apply"])
        return (result, client.stop(), try ops.lastRecord())
    }

    @Test("a canary whose orders fail while every request returns 200 is rolled back by the query, with both versions' values in the record")
    func businessMetric() async throws {
        try await OpsRepoFixture.with { ops in
            try await PrometheusServer.with(in: ops.root, scrapeConfigs: Self.scrape(ops)) { prometheus in
                let metrics = """
                      - { name: failed-orders, query: '\(Self.failedShare)', max: 0.05 }
                      - { name: orders, query: 'sum(rate(demo_orders_total{env="{env}",version="{version}"}[5s]))', maxIncrease: 1000% }

                    """
                let (result, traffic, record) = try await deploy(ops, prometheus: prometheus, canaryArguments: ["--order-failure-rate", "0.3"], metrics: metrics)
                #expect(result.status == 1, "\(result.output)")
                #expect(traffic.failed == 0, "every request was answered 200: \(traffic.errors.prefix(3))")
                #expect(record.result == .rolledBack)
                #expect(record.rollback?.trigger == .metric, "\(record.rollback?.reason ?? "")")
                #expect(record.rollback?.reason.contains("failed-orders") == true && record.rollback?.thresholds.contains("failed-orders max 0.05") == true)
                let text = try ops.git(["show", "HEAD:\(try ops.lastRecordPath())"])
                // The failing window's readings: the canary's share of failed orders, and the orders of both versions.
                let failedRow = text.split(separator: "\n").first { $0.contains("| failed-orders |") } ?? ""
                #expect(failedRow.contains("over max 0.05"), "\(text)")
                let ordersRow = text.split(separator: "\n").first { $0.contains("| orders |") }.map(String.init) ?? ""
                let cells = ordersRow.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
                #expect(cells.count >= 4 && cells[2] != "—" && cells[3] != "—", "both versions have an order rate: \(ordersRow)")
                let instances = ops.instances("production")
                #expect(instances.count == 2 && instances.allSatisfy { $0.version == "1.0.0" }, "\(instances)")
            }
        }
    }

    @Test("a canary whose query has no data is never promoted: inconclusive, extended to its bound, then rolled back")
    func noData() async throws {
        try await OpsRepoFixture.with { ops in
            try await PrometheusServer.with(in: ops.root, scrapeConfigs: Self.scrape(ops)) { prometheus in
                let metrics = "    - { name: checkouts, query: 'sum(rate(demo_checkouts_total{version=\"{version}\"}[5s]))', max: 100 }\n"
                let (result, _, record) = try await deploy(ops, prometheus: prometheus, canaryArguments: [], metrics: metrics, stepDuration: "2s")
                #expect(result.status == 1, "\(result.output)")
                #expect(record.result == .rolledBack)
                #expect(record.rollback?.trigger == .inconclusive, "\(record.rollback?.reason ?? "")")
                #expect(record.analysis.first?.decision == .rolledBack)
                #expect(record.analysis.first?.inconclusiveWindows ?? 0 >= 2)
                let text = try ops.git(["show", "HEAD:\(try ops.lastRecordPath())"])
                #expect(text.contains("| checkouts | — |") && text.contains("no data for 2.0.0"), "\(text)")
            }
        }
    }
}
