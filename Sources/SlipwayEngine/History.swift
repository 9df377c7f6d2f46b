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
        let maximum = limit ?? Int.max
        guard maximum > 0, let tip = try await git.resolve(ref: branch) else { return [] }
        try await git.walk(from: tip, containing: "\(Trailers.result):") { commit in
            let trailers = Trailers.parse(commit.message)
            guard let deployment = trailers[Trailers.deployment], let env = trailers[Trailers.environment],
                  environment.map({ $0.rawValue == env }) ?? true else { return true }
            entries.append(HistoryEntry(
                deployment: deployment, environment: env, service: trailers[Trailers.service] ?? "",
                version: trailers[Trailers.version] ?? "", previousVersion: trailers[Trailers.previousVersion] ?? "",
                result: trailers[Trailers.result] ?? "", trigger: trailers[Trailers.trigger] ?? "",
                commit: commit.id.hex, date: commit.time))
            return entries.count < maximum
        }
        return entries
    }
}
