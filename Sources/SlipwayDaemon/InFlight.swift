public import Foundation
public import SlipwayEngine

/// What the daemon is doing now, for `slipway status`: the last progress event of each
/// environment in a run, and since when.
public final class InFlight: ProgressReporter, @unchecked Sendable {  // all state is guarded by `lock`
    public struct Entry: Codable, Sendable {
        public let environment: String
        public let phase: String
        public let step: String
        public let percent: Int
        public let since: Date
    }

    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    private var starts: [String: Date] = [:]

    public init() {}

    public func report(_ event: ProgressEvent) {
        lock.withLock {
            let since = starts[event.environment] ?? Date()
            starts[event.environment] = since
            if event.percent >= 100 && event.phase == .postDeploy {
                entries[event.environment] = nil
                starts[event.environment] = nil
            } else {
                entries[event.environment] = Entry(environment: event.environment, phase: event.phase.rawValue, step: event.message,
                                                   percent: event.percent, since: since)
            }
        }
    }

    /// Forgets an environment's run (when it ended, whatever happened).
    public func clear(_ environment: String) { lock.withLock { entries[environment] = nil; starts[environment] = nil } }

    public var current: [Entry] { lock.withLock { entries.values.sorted { $0.environment < $1.environment } } }
}
