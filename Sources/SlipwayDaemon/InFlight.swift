public import SlipwayCore
public import Foundation
import Synchronization
public import SlipwayEngine

/// What the daemon is doing now, for `slipway status`: the last progress event of each
/// environment in a run, and since when.
public final class InFlight: ProgressReporter, Sendable {
    public struct Entry: Codable, Sendable {
        public let environment: EnvironmentName
        public let phase: String
        public let step: String
        public let percent: Int
        public let since: Date
    }

    /// The last event of each environment's run.
    private let entries = Mutex<[EnvironmentName: Entry]>([:])

    public init() {}

    public func report(_ event: ProgressEvent) {
        entries.withLock { entries in
            if event.percent >= 100 && event.phase == .postDeploy {
                entries[event.environment] = nil
            } else {
                entries[event.environment] = Entry(environment: event.environment, phase: event.phase.rawValue, step: event.message,
                                                   percent: event.percent, since: entries[event.environment]?.since ?? Date())
            }
        }
    }

    /// The phase of an entry for an environment held by a problem of this machine (its step says which).
    public static let held = "held"

    /// Shows what the last plan held (see `EnvironmentPlan.Action.held`), in place of older holds,
    /// for the environments `among` (all when nil: thousands held cost thousands of entries,
    /// so a pass gives the few whose hold changed or whose run ended); returns the environments
    /// newly held or held for another reason.
    @discardableResult
    public func hold(_ reasons: [EnvironmentName: String], among names: Set<EnvironmentName>? = nil) -> Set<EnvironmentName> {
        entries.withLock { entries in
            var changed: Set<EnvironmentName> = []
            for name in names ?? Set(reasons.keys).union(entries.keys) {
                let entry = entries[name], reason = reasons[name]
                if reason != nil && entry?.step != reason { changed.insert(name) }
                guard entry.map({ $0.phase == Self.held }) ?? true else { continue }  // a run in flight shows itself
                entries[name] = reason.map { Entry(environment: name, phase: Self.held, step: $0, percent: 0, since: entry?.since ?? Date()) }
            }
            return changed
        }
    }

    /// Forgets an environment's run (when it ended, whatever happened).
    public func clear(_ environment: EnvironmentName) { entries.withLock { $0[environment] = nil } }

    public var current: [Entry] { entries.withLock { $0.values.sorted { $0.environment < $1.environment } } }
}
