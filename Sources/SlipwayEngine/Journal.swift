import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SlipwayRecords

/// The run in progress for one environment, in `<state>/envs/<env>/journal.json`: rewritten
/// before and after every phase and step, and removed once its record is committed. A
/// Slipway killed mid-run leaves it behind; the next pass finds it and finishes the run
/// (see `Recovery`), so that every run ends in exactly one record.
struct JournalEntry: Codable {
    /// The record so far: phases and steps done, analysis, rollback.
    var record: DeploymentRecord
    /// The last thing that happened: `begin production`, `step production: step 1/2: …`,
    /// `done …`, `end …`, `finished` (outcome known, record not committed yet).
    var event: String
    var updated: Date
    /// Set with `finished`: the status and upstream status to commit with the record.
    var status: EnvironmentStatus?
    var upstreamStatus: EnvironmentStatus?
}

/// Writes one run's journal. Owned by the run's task.
final class Journal {
    let file: URL
    private var entry: JournalEntry
    private let failpoint: Failpoint?

    init(file: URL, draft: DeploymentRecord, failpoint: Failpoint?) {
        self.file = file
        self.entry = JournalEntry(record: draft, event: "begin", updated: Date())
        self.failpoint = failpoint
    }

    /// Records `event` with the phases so far (the one in progress last).
    func write(_ event: String, phases: [PhaseReport], analysis: [StepAnalysis], rollback: RollbackReport?) {
        entry.record.phases = phases
        entry.record.analysis = analysis
        entry.record.rollback = rollback
        entry.event = event
        save()
        failpoint?.reached(event)
    }

    /// Records the run's outcome before its record is committed.
    func finished(_ record: DeploymentRecord, status: EnvironmentStatus, upstream: EnvironmentStatus?) {
        entry.record = record
        entry.status = status
        entry.upstreamStatus = upstream
        entry.event = "finished"
        save()
        failpoint?.reached("finished")
    }

    private func save() {
        entry.updated = Date()
        try? Self.save(entry, to: file)
    }

    static func save(_ entry: JournalEntry, to file: URL) throws {
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(entry).write(to: file, options: .atomic)
    }

    static func load(_ file: URL) -> JournalEntry? {
        guard access(file.path, F_OK) == 0, let data = try? Data(contentsOf: file) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(JournalEntry.self, from: data)
    }

    static func clear(_ file: URL) {
        try? FileManager.default.removeItem(at: file)
    }
}

extension EngineConfiguration {
    /// The test hook `SLIPWAY_FAILPOINT` names in Slipway's environment, if any.
    var failpoint: Failpoint? { Failpoint(environment["SLIPWAY_FAILPOINT"]) }
}

/// A test hook: `SLIPWAY_FAILPOINT=EVENT[@MS]` in Slipway's environment kills Slipway with
/// SIGKILL when the journal reaches the first event starting with EVENT (MS milliseconds later
/// when given, to land inside a step). It lets the crash-safety tests kill at exact points;
/// without the variable it does nothing.
struct Failpoint: Sendable {
    let event: String
    let delay: Int?

    init?(_ value: String?) {
        guard let value, !value.isEmpty else { return nil }
        if let at = value.lastIndex(of: "@"), let delay = Int(value[value.index(after: at)...]) {
            (event, self.delay) = (String(value[..<at]), delay)
        } else {
            (event, delay) = (value, nil)
        }
    }

    func reached(_ name: String) {
        guard name.hasPrefix(event) else { return }
        guard let delay else { kill(getpid(), SIGKILL); return }
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: Double(delay) / 1000)
            kill(getpid(), SIGKILL)
        }
    }
}
