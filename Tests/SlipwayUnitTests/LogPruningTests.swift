import Foundation
import Testing
@testable import SlipwayEngine
import SlipwayHost
import SlipwayCore

/// Instance logs do not pile up: one file per instance ever started made `logs/` grow without end.
@Suite("instance logs pruned")
struct LogPruningTests {
    @Test("after a run, the logs of registered instances stay, and of the others only the newest 16")
    func pruned() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-logs-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        let state = StateDirectory(root: root), name: EnvironmentName = "web"
        try FileManager.default.createDirectory(at: state.logs(name), withIntermediateDirectories: true)
        let start = Date().addingTimeInterval(-10_000)  // older than an hour: a recent log stays whatever its rank
        for index in 0..<40 {  // instance 0 is the oldest
            let file = state.logs(name).appendingPathComponent("i\(index).log")
            try Data("line \(index)\n".utf8).write(to: file)
            try FileManager.default.setAttributes([.modificationDate: start.addingTimeInterval(Double(index))], ofItemAtPath: file.path)
        }
        try Data("not a log\n".utf8).write(to: state.logs(name).appendingPathComponent("notes.txt"))
        for id in ["i0", "i1"] {  // old logs, of instances that still run
            try state.registry(name).add(InstanceRecord(id: id, version: "1.0.0", port: 1, process: ProcessIdentity(pid: 1, startTime: 1), logFile: "",
                                                        manifest: fakeBlob("1.0.0"), startedAt: Date(), remote: nil))
        }
        #expect(state.pruneLogs(name) == 40 - 2 - StateDirectory.keptLogs)
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: state.logs(name).path))
        #expect(left == Set(["i0.log", "i1.log", "notes.txt"] + (24..<40).map { "i\($0).log" }), "\(left.sorted())")
        #expect(state.pruneLogs(name) == 0, "nothing more to prune")

        // A registry that does not read: nothing is deleted, the instances may be running.
        let file = state.logs(name).appendingPathComponent("old.log")
        try Data("old\n".utf8).write(to: file)
        try FileManager.default.setAttributes([.modificationDate: start], ofItemAtPath: file.path)
        try Data("{ garbled".utf8).write(to: state.registry(name).file)
        #expect(state.pruneLogs(name) == 0 && FileManager.default.fileExists(atPath: file.path))
    }
}
