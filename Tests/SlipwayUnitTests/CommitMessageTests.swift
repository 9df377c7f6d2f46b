import Foundation
import Testing
@testable import SlipwayRecords
import SlipwayCore

/// The commit messages Slipway writes, as values: subject, body, and trailers that read back.
@Suite("Commit messages")
struct CommitMessageTests {
    @Test("a revert names what failed and what it goes back to, and its trailers read back")
    func revert() {
        let message = CommitMessage.revert(environment: "production", service: "web", failedVersion: "1.2.0", previousVersion: "1.1.0",
                                           deployment: "20261127T101500Z-abc1234", result: .rolledBack, trigger: "abc1234def000000000000000000000000000000", reason: "error rate 20%")
        #expect(message.hasPrefix("revert(production): web 1.2.0 → 1.1.0 after deployment 20261127T101500Z-abc1234 rolled-back\n\n"))
        #expect(message.contains("\nThis reverts the manifest change of commit abc1234def000000000000000000000000000000.\nerror rate 20%\n\n"))
        #expect(Trailers.parse(message) == [Trailers.environment: "production", Trailers.version: "1.1.0", Trailers.reverts: "abc1234def000000000000000000000000000000",
                                            Trailers.failedDeployment: "20261127T101500Z-abc1234"])
    }

    @Test("a promotion, an approval and a rollback: one subject line, a blank line, then trailers")
    func others() {
        let promote = CommitMessage.promote(upstream: "staging", service: "web", from: "1.0.0", to: "1.1.0", for: "production")
        #expect(promote == "promote(staging): web 1.0.0 → 1.1.0 for production\n\nSlipway-Promotion: staging\nSlipway-Version: 1.1.0\nSlipway-For: production\n")
        let approve = CommitMessage.approve(environment: "production", service: "web", version: "1.1.0", manifest: "f00d000000000000000000000000000000000000")
        #expect(Trailers.parse(approve) == [Trailers.approval: "production", Trailers.version: "1.1.0", Trailers.manifest: "f00d000000000000000000000000000000000000"])
        let rollback = CommitMessage.rollback(environment: "production", from: "1.2.0", to: "1.1.0", reverts: "beef000000000000000000000000000000000000")
        #expect(rollback == "rollback(production): 1.2.0 → 1.1.0\n\nThis reverts commit beef000000000000000000000000000000000000.\n\nSlipway-Rollback: production\nSlipway-Version: 1.1.0\nSlipway-Reverts: beef000000000000000000000000000000000000\n")
        #expect(!CommitMessage.rollback(environment: "qa", from: "2", to: "1", reverts: nil).contains("This reverts"))
    }

    @Test("a record commit: result in the subject, the reason bounded, every trailer")
    func record() {
        let record = DeploymentRecord(
            deployment: "20261127T101500Z-abc1234", environment: "production", service: "web", version: "1.1.0", previousVersion: "1.0.0",
            result: .failed, reason: String(repeating: "x", count: 900), strategy: .rolling, trigger: "abc1234def000000000000000000000000000000", triggerAuthor: "Pat <pat@example.com>",
            triggerSubject: "Release", manifest: "0000000000000000000000000000000000000000", started: Date(), finished: Date(),
            changes: [], phases: [], instances: [], logs: [])
        let message = Trailers.message(for: record)
        #expect(message.hasPrefix("deploy(production): web 1.0.0 → 1.1.0 failed\n\n" + String(repeating: "x", count: 500) + "\n\n"))
        #expect(Trailers.parse(message)[Trailers.result] == "failed" && Trailers.parse(message)[Trailers.trigger] == "abc1234def000000000000000000000000000000")
    }
}
