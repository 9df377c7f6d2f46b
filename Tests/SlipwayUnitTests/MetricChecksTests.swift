import Foundation
import Testing
@testable import SlipwayCore
@testable import SlipwayEngine
@testable import SlipwayHost
@testable import SlipwayManifest

/// `rollback.metrics` decisions with a fake at the door to Prometheus (values per version).
@Suite("rollback.metrics: bounds, the previous version, no data")
struct MetricChecksTests {
    func checks(_ queries: [MetricQuery], values: [String: Double?], previous: String? = "1.0.0", failing: Bool = false) -> MetricChecks {
        var checks = MetricChecks(queries: queries, server: "http://127.0.0.1:9090", environment: "production", service: "web",
                                  version: "2.0.0", previousVersion: previous)
        checks.ask = { query, _ in
            if failing { throw PrometheusError("connection refused") }
            let version = values.keys.first { query.contains("\"\($0)\"") }
            return version.flatMap { values[$0] ?? nil }
        }
        return checks
    }

    let share = MetricQuery(name: "failed", query: #"x{version="{version}",env="{env}"}"#, max: 0.05, maxIncrease: nil)
    let rate = MetricQuery(name: "latency", query: #"y{version="{version}"}"#, max: nil, maxIncrease: 0.5)

    @Test("max and maxIncrease: within passes, over fails with both values; no data or an error is inconclusive; nothing to compare with leaves max")
    func verdicts() async {
        #expect(await checks([share], values: ["2.0.0": 0.01]).judge().verdict == .pass)
        let over = await checks([share, rate], values: ["2.0.0": 0.3, "1.0.0": 0.1]).judge()
        #expect(over.verdict == .fail(.metric) && over.reason == "failed 0.3 over max 0.05")
        #expect(over.readings.map(\.previous) == [nil, 0.1])
        let slower = await checks([rate], values: ["2.0.0": 0.16, "1.0.0": 0.1]).judge()
        #expect(slower.verdict == .fail(.metric) && slower.reason.contains("against 0.1 for 1.0.0: over +50%"), "\(slower.reason)")
        #expect(await checks([rate], values: ["2.0.0": 0.14, "1.0.0": 0.1]).judge().verdict == .pass)
        let none = await checks([share], values: [:]).judge()
        #expect(none.verdict == .inconclusive && none.reason == "failed: no data for 2.0.0")
        #expect(await checks([rate], values: ["2.0.0": 0.1]).judge().verdict == .inconclusive)
        // Nothing to compare with (a first deployment, or the same version on both sides): maxIncrease does not apply, max does.
        #expect(await checks([rate], values: ["2.0.0": 0.1], previous: nil).judge().verdict == .pass)
        #expect(await checks([rate], values: ["2.0.0": 0.1], previous: "2.0.0").judge().verdict == .pass)
        #expect(await checks([share], values: ["2.0.0": 0.3], previous: nil).judge().verdict == .fail(.metric))
        #expect(await checks([share], values: ["2.0.0": 0.01], failing: true).judge().verdict == .inconclusive)
        var after = checks([rate], values: ["2.0.0": 0.1])
        after.afterRollout = true
        #expect(await after.judge().verdict == .pass, "after the rollout the previous version's series may be gone")
    }

    @Test("the query API's answers: one series, none, NaN, several, an error")
    func parse() throws {
        let one = #"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1800000000.1,"0.25"]}]}}"#
        #expect(try PrometheusQuery.parse(one, status: 200) == 0.25)
        #expect(try PrometheusQuery.parse(#"{"status":"success","data":{"resultType":"vector","result":[]}}"#, status: 200) == nil)
        #expect(try PrometheusQuery.parse(#"{"status":"success","data":{"resultType":"scalar","result":[1,"NaN"]}}"#, status: 200) == nil)
        let two = #"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]},{"metric":{},"value":[1,"2"]}]}}"#
        #expect(throws: PrometheusError.self) { try PrometheusQuery.parse(two, status: 200) }
        #expect(throws: PrometheusError.self) { try PrometheusQuery.parse(#"{"status":"error","error":"parse error"}"#, status: 400) }
        #expect(throws: PrometheusError.self) { try PrometheusQuery.parse("<html>", status: 502) }
    }

    @Test("rollback.metrics parses; unknown placeholders, a missing bound or server are errors with their place")
    func manifest() throws {
        let base = """
            service: web
            version: "1"
            run: { command: ["web"] }
            traffic: { listen: "127.0.0.1:8080" }
            rollback:

            """
        let parsed = try ManifestParser.parse(Data((base + """
              prometheus: http://127.0.0.1:9090
              metrics:
                - { name: failed, query: 'sum(rate(x{version="{version}"}[1m]))', max: 0.05 }
                - { name: p99, query: 'y{env="{env}",service="{service}",version="{version}"}', maxIncrease: 20% }
            """).utf8), path: "Environments/production.yaml")
        #expect(parsed.rollback.metrics.map(\.name) == ["failed", "p99"])
        #expect(parsed.rollback.metrics[1].maxIncrease == 0.2)
        #expect(parsed.rollback.metrics[0].promQL(version: "2.0", env: "production", service: "web") == #"sum(rate(x{version="2.0"}[1m]))"#)
        do {
            _ = try ManifestParser.parse(Data((base + """
              metrics:
                - { name: failed, query: 'x{version="{verison}"}' }
            """).utf8), path: "Environments/production.yaml")
            Issue.record("accepted")
        } catch {
            let messages = error.diagnostics.map(\.description)
            #expect(messages.contains { $0.contains("unknown placeholder {verison}") && $0.contains("version") }, "\(messages)")
            #expect(messages.contains { $0.contains("needs a bound") })
            #expect(messages.contains { $0.contains("needs rollback.prometheus") })
        }
    }
}
