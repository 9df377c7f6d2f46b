import Foundation
@testable import SlipwayRecords
import SlipwayCore

enum DeploymentRecordFixture {
    static func make(trigger: ObjectID) -> (record: DeploymentRecord, status: EnvironmentStatus) {
        let now = Date()
        let id = DeploymentID(startedAt: now, trigger: trigger)
        let record = DeploymentRecord(
            deployment: id, environment: "production", service: "web", version: "1.0.0", previousVersion: nil,
            result: .succeeded, reason: nil, strategy: .rolling, trigger: trigger, triggerAuthor: "Pat <pat@example.com>",
            triggerSubject: "Release", manifest: "0000000000000000000000000000000000000000", started: now, finished: now,
            changes: [], phases: [], instances: [], logs: [])
        let status = EnvironmentStatus(environment: "production", service: "web", version: "1.0.0", commit: trigger,
                                       manifest: nil, since: Timestamp.iso(now), instances: [], lastResult: .succeeded, lastDeployment: id)
        return (record, status)
    }
}
