import Foundation
import Testing
import SlipwayCore

/// Deployment ids name record files: no two runs may share one (README, "What Slipway writes").
@Suite("deployment ids", .serialized)  // they move the process's last id: one at a time
struct DeploymentIDTests {
    let commit = ObjectID(bytes: [UInt8](repeating: 0xab, count: 20))
    let other = ObjectID(bytes: [UInt8](repeating: 0xcd, count: 20))

    @Test("runs started in the same millisecond, of one commit or of several, in parallel or one after another, get ids no other run has, in the order they were given")
    func uniqueInOneProcess() async throws {
        let moment = Date()  // the clock's: ids of other tests of this process come from it too
        let serial = (0..<5).map { _ in DeploymentID.next(startedAt: moment, trigger: commit) }
        #expect(Set(serial).count == 5 && serial == serial.sorted(), "\(serial)")
        let parallel = await withTaskGroup(of: [DeploymentID].self) { group in
            for index in 0..<8 {
                group.addTask { (0..<100).map { _ in DeploymentID.next(startedAt: moment, trigger: index % 2 == 0 ? commit : other) } }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(Set(parallel + serial).count == 805)
        #expect(Set((parallel + serial).map { $0.rawValue.prefix(19) }).count == 805, "a millisecond each, whatever the commit")
        #expect(parallel.allSatisfy { DeploymentID($0.rawValue) == $0 }, "each one reads back")
    }

    @Test("a run of another process follows the environment's last id, unless that one is far ahead of the clock")
    func followsThePrevious() throws {
        let now = Date()
        let previous = DeploymentID.next(startedAt: now.addingTimeInterval(0.5), trigger: commit)  // another process's, half a second ahead
        let next = DeploymentID.next(startedAt: now, trigger: commit, after: previous)
        #expect(next > previous && next.rawValue.hasSuffix(commit.short))
        let future = try #require(DeploymentID("20990101T000000.000Z-abababa"))
        let sane = DeploymentID.next(startedAt: now, trigger: commit, after: future)
        let started = try #require(sane.started)
        #expect(sane < future && started.timeIntervalSince(now) < 5, "\(sane)")
    }

    @Test("after the clock steps back by more than a second, ids follow it again")
    func clockStepsBack() throws {
        let now = Date()
        _ = DeploymentID.next(startedAt: now.addingTimeInterval(3600), trigger: other)  // an id an hour ahead (the clock before it was set back)
        let next = DeploymentID.next(startedAt: now, trigger: other)
        let started = try #require(next.started)
        #expect(abs(started.timeIntervalSince(now)) < 5, "\(next)")
    }
}
