import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SlipwayRecords
import SlipwayCore

/// What the journal says happened last. Written as text (`begin production`, `step production:
/// batch 1/2`, `done …`, `end …`, `finished`), which `SLIPWAY_FAILPOINT` matches by prefix.
enum JournalEvent: Sendable, Equatable, TextCodable {
    case begin(Phase)
    /// A step started (`phase` is nil outside a phase).
    case step(Phase?, String)
    case done(Phase?, String)
    case end(Phase)
    /// The outcome is known; the record is not committed yet.
    case finished
    /// A journal written by an older Slipway whose text is not one of the above.
    case other(String)

    init(text: String) {
        let words = text.split(separator: " ", maxSplits: 1).map(String.init)
        let rest = words.count > 1 ? words[1] : ""
        func stepParts() -> (Phase?, String)? {
            guard let colon = rest.range(of: ": ") else { return nil }
            return (Phase(rawValue: String(rest[..<colon.lowerBound])), String(rest[colon.upperBound...]))
        }
        switch words.first {
        case "begin": self = Phase(rawValue: rest).map(JournalEvent.begin) ?? .other(text)
        case "end": self = Phase(rawValue: rest).map(JournalEvent.end) ?? .other(text)
        case "step": self = stepParts().map { .step($0.0, $0.1) } ?? .other(text)
        case "done": self = stepParts().map { .done($0.0, $0.1) } ?? .other(text)
        case "finished" where rest.isEmpty: self = .finished
        default: self = .other(text)
        }
    }

    var description: String {
        switch self {
        case .begin(let phase): "begin \(phase.rawValue)"
        case .step(let phase, let name): "step \(phase?.rawValue ?? ""): \(name)"
        case .done(let phase, let name): "done \(phase?.rawValue ?? ""): \(name)"
        case .end(let phase): "end \(phase.rawValue)"
        case .finished: "finished"
        case .other(let text): text
        }
    }
}

/// The run in progress for one environment, in `<state>/envs/<env>/journal.json`: rewritten
/// before and after every phase and step, and removed once its record is committed. A
/// Slipway killed mid-run leaves it behind; the next pass finds it and finishes the run
/// (see `Recovery`), so that every run ends in exactly one record.
struct JournalEntry: Codable {
    /// The record so far: phases and steps done, analysis, rollback.
    var record: DeploymentRecord
    /// The last thing that happened.
    var event: JournalEvent
    var updated: Date
    /// Set with `finished`: the status and upstream status to commit with the record.
    var status: EnvironmentStatus?
    var upstreamStatus: EnvironmentStatus?
    /// Set when the run's manifest was refused under `Trust/`: recovery acts on nothing it names
    /// (its hosts, its address, its secrets), it only records the run.
    var refused: Bool?
    /// Where no release succeeded yet: the instances that served when the run began (left by
    /// an earlier stopped run, maybe of this very manifest), which recovery keeps.
    var standIns: [String]?
}

/// Writes one run's journal. Owned by the run's task.
final class Journal {
    let file: URL
    private var entry: JournalEntry
    private let failpoint: Failpoint?

    init(file: URL, draft: DeploymentRecord, failpoint: Failpoint?, refused: Bool = false) {
        self.file = file
        self.entry = JournalEntry(record: draft, event: .begin(.preflight), updated: Date(), refused: refused ? true : nil)
        self.failpoint = failpoint
    }

    /// Records `event` with the phases so far (the one in progress last).
    func write(_ event: JournalEvent, phases: [PhaseReport], analysis: [StepAnalysis], rollback: RollbackReport?) {
        entry.record.phases = phases
        entry.record.analysis = analysis
        entry.record.rollback = rollback
        entry.event = event
        save()
        failpoint?.reached(event.description)
    }

    /// Names the stand-ins (see `JournalEntry.standIns`); written with the next event.
    func note(standIns: [String]) { entry.standIns = standIns.isEmpty ? nil : standIns }

    /// Records the run's outcome before its record is committed.
    func finished(_ record: DeploymentRecord, status: EnvironmentStatus, upstream: EnvironmentStatus?) {
        entry.record = record
        entry.status = status
        entry.upstreamStatus = upstream
        entry.event = .finished
        save()
        failpoint?.reached("finished")
    }

    /// The first write of the journal that failed: the run takes no further step (see `StorageFault`).
    private(set) var fault: StorageFault?

    private func save() {
        entry.updated = Date()
        do {
            try Self.save(entry, to: file)
        } catch {
            if fault == nil { fault = StorageFault(error) }
        }
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
