import Foundation
import SlipwayCore

/// What one set of instances (one version) used over a window, per instance: CPU, resident
/// memory, open files. Read from `/proc` of the host each instance runs on.
public struct ResourceFigures: Sendable, Codable, Hashable {
    /// Instances read.
    public let instances: Int
    /// Mean CPU per instance over the window, percent of one core.
    public let cpuPercent: Double
    /// CPU time per request served, in milliseconds; nil when the set served too few requests to say.
    public let cpuPerRequest: Double?
    /// Requests the instances read served over the window.
    public let requests: Int?
    /// Mean resident memory per instance at the window's end, and the largest.
    public let residentBytes: Int
    public let maxResidentBytes: Int
    /// Mean open files per instance at the window's end.
    public let openFiles: Int
    /// What the CPU figures cover, in seconds.
    public let seconds: Double

    public init(instances: Int, cpuPercent: Double, cpuPerRequest: Double?, requests: Int? = nil, residentBytes: Int, maxResidentBytes: Int,
                openFiles: Int, seconds: Double) {
        (self.instances, self.cpuPercent, self.cpuPerRequest, self.requests) = (instances, cpuPercent, cpuPerRequest, requests)
        (self.residentBytes, self.maxResidentBytes, self.openFiles, self.seconds) = (residentBytes, maxResidentBytes, openFiles, seconds)
    }

    /// `CPU 3.2% (0.41 ms/request), 14 MiB, 12 files` as records and reasons say it.
    public var text: String {
        let perRequest = cpuPerRequest.map { String(format: " (%.2f ms/request)", $0) } ?? ""
        return String(format: "CPU %.1f%%", cpuPercent) + perRequest + ", \(ByteCount.text(residentBytes)), \(openFiles) files"
    }
}

/// The new version's figures beside the previous version's over the same window, and what the
/// `rollback` resource rules made of them.
public struct ResourceComparison: Sendable, Codable, Hashable {
    public let new: ResourceFigures?
    public let previous: ResourceFigures?
    /// `pass`, `recorded` (no rule set), or why it failed or decided nothing.
    public let verdict: String

    public init(new: ResourceFigures?, previous: ResourceFigures?, verdict: String) {
        (self.new, self.previous, self.verdict) = (new, previous, verdict)
    }
}
