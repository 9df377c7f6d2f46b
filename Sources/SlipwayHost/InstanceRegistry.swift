public import Foundation
public import SlipwayCore
import Logging

/// One instance Slipway started, as kept in the state directory.
public struct InstanceRecord: Sendable, Codable, Hashable {
    /// Unique name (also the HAProxy server name).
    public let id: String
    public let version: String
    public let port: Int
    public let process: ProcessIdentity
    public let logFile: String
    /// The manifest blob it was started from.
    public let manifest: ObjectID
    public let startedAt: Date
    /// Set on a previous blue-green set kept running at weight 0: a switch back to it until
    /// then needs nothing started. Nil for instances that serve.
    public var warmUntil: Date?
    /// Where it runs when not on this machine.
    public var remote: RemoteHost?

    public init(id: String, version: String, port: Int, process: ProcessIdentity, logFile: String, manifest: ObjectID,
                startedAt: Date, warmUntil: Date? = nil, remote: RemoteHost? = nil) {
        self.id = id
        self.version = version
        self.port = port
        self.process = process
        self.logFile = logFile
        self.manifest = manifest
        self.startedAt = startedAt
        self.warmUntil = warmUntil
        self.remote = remote
    }

    /// Whether its process runs. On another machine only its `Target` can tell (one look per
    /// host); here it is taken as running, and the balancer's health checks judge it.
    public var isRunning: Bool { host != nil || ProcessControl.isRunning(process) }

    /// The fleet host it runs on, as the manifest names it; nil on this machine.
    public var host: String? { remote?.destination.host }

    /// Where the balancer and the smoke checks reach it.
    public var reachableAt: String { remote?.address ?? "127.0.0.1" }
}

/// The instances of one environment (`instances.json` in its state folder), written before
/// and after every start and stop so that a later run finds and replaces them.
public struct InstanceRegistry: Sendable {
    public let file: URL

    public init(file: URL) { self.file = file }

    public func load() -> [InstanceRecord] {
        // access() first: a failed Data(contentsOf:) builds an NSError, costly across 1,000 environments.
        guard access(file.path, F_OK) == 0, let data = try? Data(contentsOf: file) else { return [] }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return (try? decoder.decode([InstanceRecord].self, from: data)) ?? []
    }

    public func save(_ instances: [InstanceRecord]) throws {
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(instances).write(to: file, options: .atomic)
        do {
            try writeScrapeTargets(instances)
        } catch {
            // Derived from the registry and rewritten at its next save: logged, never failing the
            // registry write that recovery depends on.
            Logger(label: "slipway").warning("Prometheus scrape targets not written", metadata: [
                "file": "\(scrapeTargets.path)", "error": "\(ErrorText.sentence(error))"])
        }
    }

    /// `<state>/targets/<env>.json`, in Prometheus's `file_sd_configs` format: every instance's
    /// address, labelled with its environment, version and id, so that a Prometheus that reads
    /// `<state>/targets/*.json` scrapes what runs now (README, "Canary, blue-green and analysis").
    public var scrapeTargets: URL {
        let folder = file.deletingLastPathComponent()
        return folder.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("targets")
            .appendingPathComponent("\(folder.lastPathComponent).json")
    }

    private func writeScrapeTargets(_ instances: [InstanceRecord]) throws {
        struct Group: Encodable {
            let targets: [String]
            let labels: [String: String]
        }
        let environment = file.deletingLastPathComponent().lastPathComponent
        let groups = instances.map { instance in
            Group(targets: ["\(instance.reachableAt):\(instance.port)"],
                  labels: ["env": environment, "version": instance.version, "slipway_instance": instance.id])
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try FileManager.default.createDirectory(at: scrapeTargets.deletingLastPathComponent(), withIntermediateDirectories: true)
        try encoder.encode(groups).write(to: scrapeTargets, options: .atomic)
    }

    public func add(_ instance: InstanceRecord) throws {
        try save(load().filter { $0.id != instance.id } + [instance])
    }

    public func remove(_ id: String) throws {
        try save(load().filter { $0.id != id })
    }

    /// Marks instances warm until `date` (nil: serving again).
    public func setWarm(_ ids: Set<String>, until date: Date?) throws {
        try save(load().map { instance in
            var instance = instance
            if ids.contains(instance.id) { instance.warmUntil = date }
            return instance
        })
    }
}
