public import Foundation
public import SlipwayCore
import SlipwayHost

/// What one instance uses now, as `slipway status` shows it.
public struct InstanceUsage: Sendable, Codable, Hashable {
    /// CPU over the last moment, percent of one core.
    public let cpuPercent: Double
    public let residentBytes: Int
    public let openFiles: Int

    /// `CPU 1.2%, 14 MiB, 12 files`.
    public var text: String { String(format: "CPU %.1f%%", cpuPercent) + ", \(ByteCount.text(residentBytes)), \(openFiles) files" }
}

extension StateDirectory {
    /// Every registered instance of `names` that can be read, by id: CPU between two readings
    /// `interval` apart, memory and open files at the second. Instances on fleet hosts are
    /// asked over ssh, one look per host and reading.
    public func usageNow(of names: [EnvironmentName], variables: [String: String], interval: Duration = .milliseconds(250)) async -> [String: InstanceUsage] {
        let targets = names.map { (target($0, fleet: nil, variables: variables), registry($0).load()) }.filter { !$0.1.isEmpty }
        guard !targets.isEmpty else { return [:] }
        func reading() async -> (ContinuousClock.Instant, [String: ResourceSample]) {
            var samples: [String: ResourceSample] = [:]
            for (target, instances) in targets { samples.merge(await target.usage(of: instances)) { first, _ in first } }
            return (.now, samples)
        }
        let (start, before) = await reading()
        try? await Task.sleep(for: interval)
        let (end, after) = await reading()
        let span = (end - start).components
        let seconds = max(0.001, Double(span.seconds) + Double(span.attoseconds) / 1e18)
        return after.reduce(into: [:]) { result, entry in
            let cpu = before[entry.key].map { max(0, entry.value.cpuSeconds - $0.cpuSeconds) / seconds * 100 } ?? 0
            result[entry.key] = InstanceUsage(cpuPercent: cpu, residentBytes: entry.value.residentBytes, openFiles: entry.value.openFiles)
        }
    }
}
