public import Foundation
public import SlipwayManifest
import SlipwayGit
import SlipwayRecords

/// One deployment as `git log` tells it: read from the trailers of its record commit.
public struct HistoryEntry: Sendable, Codable {
    public let deployment: String
    public let environment: String
    public let service: String
    public let version: String
    public let previousVersion: String
    public let result: String
    /// The manifest commit that asked for the deployment.
    public let trigger: String
    /// The record commit.
    public let commit: String
    public let date: Date
}

extension OpsRepository {
    /// Deployments from the branch's history, newest first, optionally for one environment.
    public func history(of environment: EnvironmentName? = nil, limit: Int? = nil) async throws -> [HistoryEntry] {
        var entries: [HistoryEntry] = []
        for try await batch in historyBatches(of: environment, limit: limit) { entries += batch }
        return entries
    }

    /// The same, in batches as the walk goes, so that a caller can print while git is read.
    /// Without a limit the walk (one core) and the trailer parsing (the other) overlap, as
    /// `git log` streams its output; with one, entries are parsed inline so the walk can stop.
    public func historyBatches(of environment: EnvironmentName? = nil, limit: Int? = nil) -> AsyncThrowingStream<[HistoryEntry], any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    if let limit {
                        continuation.yield(try await limitedHistory(of: environment, limit: limit))
                    } else {
                        try await streamHistory(of: environment, into: continuation)
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private typealias RawEntry = (id: ObjectID, time: Int64, message: [UInt8])

    private func limitedHistory(of environment: EnvironmentName?, limit: Int) async throws -> [HistoryEntry] {
        var entries: [HistoryEntry] = []
        guard limit > 0, let tip = try await git.resolve(ref: branch) else { return [] }
        try await git.walk(from: tip, containing: "\(Trailers.result):") { commit in
            if let entry = Self.entry(commit.id, commit.time, Trailers.parse(commit.message), environment) { entries.append(entry) }
            return entries.count < limit
        }
        return entries
    }

    private func streamHistory(of environment: EnvironmentName?, into output: AsyncThrowingStream<[HistoryEntry], any Error>.Continuation) async throws {
        guard let tip = try await git.resolve(ref: branch) else { return }
        let (raw, rawInput) = AsyncStream.makeStream(of: [RawEntry].self)
        let parser = Task.detached {
            for await batch in raw {
                output.yield(batch.compactMap { item in
                    item.message.withUnsafeBytes { Self.entry(item.id, item.time, Trailers.parse($0), environment) }
                })
            }
        }
        var batch: [RawEntry] = []
        batch.reserveCapacity(1024)
        do {
            try await git.walk(from: tip, containing: "\(Trailers.result):") { commit in
                batch.append((commit.id, commit.time, Array(commit.message)))
                if batch.count == 1024 {
                    rawInput.yield(batch)
                    batch.removeAll(keepingCapacity: true)
                }
                return !Task.isCancelled
            }
        } catch {
            rawInput.finish()
            await parser.value
            throw error
        }
        rawInput.yield(batch)
        rawInput.finish()
        await parser.value
    }

    private static func entry(_ id: ObjectID, _ time: Int64, _ trailers: [String: String], _ environment: EnvironmentName?) -> HistoryEntry? {
        guard let deployment = trailers[Trailers.deployment], let env = trailers[Trailers.environment],
              environment.map({ $0.rawValue == env }) ?? true else { return nil }
        return HistoryEntry(
            deployment: deployment, environment: env, service: trailers[Trailers.service] ?? "",
            version: trailers[Trailers.version] ?? "", previousVersion: trailers[Trailers.previousVersion] ?? "",
            result: trailers[Trailers.result] ?? "", trigger: trailers[Trailers.trigger] ?? "",
            commit: id.hex, date: Date(timeIntervalSince1970: TimeInterval(time)))
    }
}
