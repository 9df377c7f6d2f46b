import Foundation
import Testing
@testable import SlipwayCore
@testable import SlipwayRecords

/// What Slipway saved before a field existed still reads: a journal left by a Slipway killed
/// mid-run, then upgraded, finishes that run.
@Suite("records saved by earlier releases")
struct SavedRecordTests {
    @Test("a record without analysis, hosts, notifications or a step's queries decodes, with those empty; today's round-trips")
    func missingLists() throws {
        var record = DeploymentRecord(
            deployment: "20261128T101500.000Z-abababa", environment: "production", service: "web", version: "2.0.0", previousVersion: "1.0.0",
            result: .rolledBack, reason: "error rate", strategy: .canary, trigger: "abababababababababababababababababababab",
            triggerAuthor: "Pat <pat@example.com>", triggerSubject: "Release", manifest: nil, started: Date(timeIntervalSince1970: 1_800_000_000),
            finished: Date(timeIntervalSince1970: 1_800_000_010), changes: [], phases: [], instances: [], logs: [])
        let metrics = Metrics(requests: 10, errors: 1, errorRate: 10, responseMilliseconds: 3)
        record.analysis = [StepAnalysis(step: "step 1/2", weight: 50, milliseconds: 1000, windows: 1, inconclusiveWindows: 0, canary: metrics,
                                        baseline: nil, decision: .rolledBack, reason: "r",
                                        queries: [QueryReading(name: "q", value: 1, previous: nil, bound: "max 0.5", verdict: "q 1 over max 0.5")])]
        record.notifications = [NotificationDelivery(event: .started, channel: "team", state: .delivered, attempts: 1, detail: "delivered")]
        let encoder = JSONEncoder(), decoder = JSONDecoder()
        encoder.dateEncodingStrategy = .iso8601
        decoder.dateDecodingStrategy = .iso8601
        let today = try decoder.decode(DeploymentRecord.self, from: try encoder.encode(record))
        #expect(today.analysis == record.analysis && today.notifications == record.notifications)

        var old = try #require(try JSONSerialization.jsonObject(with: try encoder.encode(record)) as? [String: Any])
        var step = try #require((old["analysis"] as? [[String: Any]])?.first)
        step["queries"] = nil
        old["analysis"] = [step]
        old["hosts"] = nil
        old["notifications"] = nil
        let earlier = try decoder.decode(DeploymentRecord.self, from: try JSONSerialization.data(withJSONObject: old))
        #expect(earlier.hosts.isEmpty && earlier.notifications.isEmpty && earlier.analysis.first?.queries.isEmpty == true)
        old["analysis"] = nil
        #expect(try decoder.decode(DeploymentRecord.self, from: try JSONSerialization.data(withJSONObject: old)).analysis.isEmpty)
    }
}
