public import Foundation
public import SlipwayCore
public import SlipwayHost

/// What one instance uses now, as `slipway status` shows it.
public struct InstanceUsage: Sendable, Codable, Hashable {
    /// CPU over the last moment, percent of one core; nil when only one reading was had.
    public let cpuPercent: Double?
    public let residentBytes: Int
    public let openFiles: Int

    /// `CPU 1.2%, 14 MiB, 12 files`.
    public var text: String {
        (cpuPercent.map { String(format: "CPU %.1f%%", $0) } ?? "CPU —") + ", \(ByteCount.text(residentBytes)), \(openFiles) files"
    }
}

extension StateDirectory {
    /// Each of `instances` that can be read, by id: CPU between two readings `interval` apart,
    /// memory and open files at the second. This machine's in one pass over `/proc`; fleet
    /// hosts all at once over ssh, 5 s each at most.
    public func usageNow(of instances: [InstanceRecord], variables: [String: String], interval: Duration = .milliseconds(250)) async -> [String: InstanceUsage] {
        guard !instances.isEmpty else { return [:] }
        let ssh = ssh(environment: variables)
        func reading() async -> (ContinuousClock.Instant, [String: ResourceSample]) {
            (.now, await SSHTarget.usage(of: instances, ssh: ssh, local: ProcessTarget.usage(of: instances), timeout: .seconds(5)))
        }
        let (start, before) = await reading()
        try? await Task.sleep(for: interval)
        let (end, after) = await reading()
        let seconds = max(0.001, (end - start).inSeconds)
        return after.reduce(into: [:]) { result, entry in
            let cpu = before[entry.key].map { max(0, entry.value.cpuSeconds - $0.cpuSeconds) / seconds * 100 }
            result[entry.key] = InstanceUsage(cpuPercent: cpu, residentBytes: entry.value.residentBytes, openFiles: entry.value.openFiles)
        }
    }
}
